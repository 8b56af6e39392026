"""Our own state (generated API key, derived agent configs, queue bookkeeping) lives in a
state directory outside the runs root: every directory directly under the root is a
project, to us and to the Go tool alike (spec §3).

Resolution: ``CONDUCTOR_STATE_DIR`` → ``storage.state_dir`` from config → the platform's
user state dir (``$XDG_STATE_HOME/conductor-loop``, ``~/.local/state/conductor-loop``).
"""

from __future__ import annotations

import os
from pathlib import Path

from conductor_loop.errors import ConfigError

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
