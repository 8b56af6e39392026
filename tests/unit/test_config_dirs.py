"""``config.dirs`` computes the XDG directories itself (to keep platformdirs off the
start-up path of ``run-agent job``): it must give platformdirs' answer."""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs
import pytest

from conductor_loop.config import dirs


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="the XDG rule is for Linux/BSD")
@pytest.mark.parametrize(
    "xdg", [None, "", "relative/dir", "/abs/xdg"], ids=["unset", "empty", "relative", "absolute"]
)
def test_the_xdg_rule_matches_platformdirs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, xdg: str | None
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for variable in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        if xdg is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, xdg)
    assert dirs.user_config_dir() == Path(platformdirs.user_config_dir("conductor"))
    assert dirs.user_cache_dir() == Path(platformdirs.user_cache_dir("conductor-loop"))


def test_off_linux_platformdirs_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dirs, "_is_xdg_platform", lambda: False)
    assert dirs.user_config_dir() == Path(platformdirs.user_config_dir("conductor"))
    assert dirs.user_cache_dir() == Path(platformdirs.user_cache_dir("conductor-loop"))
    legacy = Path.home() / ".config" / "conductor" / "config.yaml"
    assert legacy in dirs.user_config_files()
