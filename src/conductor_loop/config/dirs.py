"""Where our per-user files live: platformdirs' config and cache directories.

On Linux and the BSDs these are the XDG ones (``$XDG_CONFIG_HOME/conductor``, else
``~/.config/conductor``; ``$XDG_CACHE_HOME/conductor-loop``, else ``~/.cache/...``). There
the rule is computed here directly, the way platformdirs computes it (tests check that
both agree): importing platformdirs (it imports ``tempfile`` and ``random``) would add
milliseconds to every ``run-agent job``, which reads the config cache. Elsewhere
platformdirs answers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CONFIG_APP = "conductor"
CACHE_APP = "conductor-loop"
LEGACY_CONFIG_DIR = "~/.config/conductor"  # where it always was, before platformdirs


def _xdg(variable: str, fallback: str, app: str) -> Path | None:
    base = os.environ.get(variable, "")
    if not os.path.isabs(base):
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, fallback)
    return Path(base) / app


def _is_xdg_platform() -> bool:
    return sys.platform not in ("darwin", "win32", "cygwin", "ios", "android")


def user_config_dir() -> Path | None:
    """The directory of the user config; None without a usable home directory."""
    if _is_xdg_platform():
        return _xdg("XDG_CONFIG_HOME", ".config", CONFIG_APP)
    from platformdirs import user_config_dir as platform_config_dir

    try:
        return Path(platform_config_dir(CONFIG_APP, appauthor=False))
    except RuntimeError:
        return None


def user_cache_dir() -> Path | None:
    """The directory of our cache; None without a usable home directory."""
    if _is_xdg_platform():
        return _xdg("XDG_CACHE_HOME", ".cache", CACHE_APP)
    from platformdirs import user_cache_dir as platform_cache_dir

    try:
        return Path(platform_cache_dir(CACHE_APP, appauthor=False))
    except RuntimeError:
        return None


def user_config_files() -> list[Path]:
    """Where to look for the user config, in order: the platform's config dir, then the
    old ``~/.config/conductor`` where the platform puts configs elsewhere (macOS)."""
    found = [d / "config.yaml" for d in (user_config_dir(),) if d is not None]
    legacy = Path(LEGACY_CONFIG_DIR).expanduser() / "config.yaml"
    if legacy.is_absolute() and legacy not in found and not _is_xdg_platform():
        found.append(legacy)
    return found
