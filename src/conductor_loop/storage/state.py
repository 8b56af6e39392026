"""Our own state (generated API key, derived agent configs, queue bookkeeping) lives in a
state directory outside the runs root: every directory directly under the root is a
project, to us and to the Go tool alike (spec §3).

Resolution: ``CONDUCTOR_STATE_DIR`` → ``storage.state_dir`` from config → the platform's
user state dir (``$XDG_STATE_HOME/conductor-loop``, ``~/.local/state/conductor-loop``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from conductor_loop.errors import ConfigError
from conductor_loop.storage.atomic import atomic_write_text

STATE_DIR_ENV = "CONDUCTOR_STATE_DIR"


def resolve_state_dir(configured: str | None = None) -> Path:
    for candidate in (os.environ.get(STATE_DIR_ENV), configured):
        if candidate:
            return Path(candidate).expanduser().absolute()
    from platformdirs import user_state_dir

    return Path(user_state_dir("conductor-loop")).absolute()


def check_outside_root(state_dir: Path, runs_root: Path) -> None:
    """A state dir inside the runs root would show up there as a project: refuse it."""
    state = Path(os.path.realpath(state_dir))
    root = Path(os.path.realpath(runs_root))
    if state == root or root in state.parents:
        raise ConfigError(
            f"the state directory {str(state_dir)!r} is inside the runs root {str(runs_root)!r}; "
            f"set storage.state_dir (or {STATE_DIR_ENV}) to a directory outside it"
        )


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed; the directory itself is owner-only (0700)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def keep_private_file(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Have ``path``, an owner-only file in an owner-only directory, hold exactly ``text``:
    written atomically, and only when it is missing or differs (many runs share it)."""
    data = text.encode("utf-8")
    if not _holds_private(path, data):
        ensure_private_dir(path.parent)
        atomic_write_text(path, text, mode=mode)


def _holds_private(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a private regular file (not a symlink) holding exactly ``data``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode) or mode & 0o077:
            return False
        return handle.read(len(data) + 1) == data
