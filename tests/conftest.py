"""Fixtures shared by every test kind. Keep this small: one fixture per real need."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conductor_loop.storage.layout import RunsRoot
from tests.support import Tmpfs

VENV_BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test sees the developer's config, config cache, state dir, runs root or agent
    context (JRUN_*)."""
    for name in list(os.environ):
        if name.startswith(("CONDUCTOR_", "JRUN_")):
            monkeypatch.delenv(name)
    # The config cache and the state dir (generated API key, …) go under HOME.
    for name in ("XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture
def runs_root(tmp_path: Path) -> RunsRoot:
    """An empty runs root inside the test's temp dir."""
    root = tmp_path / "runs"
    root.mkdir()
    return RunsRoot.at(root)


@pytest.fixture
def run_agent_exe() -> Path:
    """The installed ``run-agent`` console script (the real entry point users run)."""
    exe = VENV_BIN / "run-agent"
    if not exe.is_file():
        pytest.fail(f"{exe} is missing: install the package (make unit does)")
    return exe


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Tmpfs]:
    """A 4 MiB tmpfs at ``tmp_path/disk`` to fill or make read-only, unmounted at teardown.

    Mounting needs root. CI runs as root, so there (``CI`` set) and whenever we are root a
    failed mount fails the test; only a developer's unprivileged run skips it.
    """
    disk = Tmpfs(tmp_path / "disk")
    try:
        disk.mount()
    except OSError as exc:
        if os.environ.get("CI") or os.geteuid() == 0:
            pytest.fail(f"cannot mount a tmpfs for the disk tests: {exc}")
        pytest.skip(f"mounting a tmpfs needs root: {exc}")
    try:
        yield disk
    finally:
        disk.close()
