"""Private per-run homes for agent CLIs that need settings files (``CliBackend.home_files``).

Each lives in ``<state dir>/agent-homes/<run_id>/`` (owner-only: CLIs refuse settings in
folders others can write, and the state dir is outside the runs root, where any
directory would be a project). The runner holds ``<run_id>.lock`` while the run goes and
removes the home when it ends; a home whose runner died is swept by the next one made.
The user's own home is never written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

from conductor_loop.storage.atomic import atomic_write_text
from conductor_loop.storage.locks import lock_is_held, take_lock
from conductor_loop.storage.state import ensure_private_dir

AGENT_HOMES_DIR = "agent-homes"
STALE_AFTER = 60.0  # seconds: older homes with a free lock belong to a runner that died


class AgentHome:
    """One run's private home; ``close`` removes it."""

    def __init__(self, parent: Path, run_id: str, files: dict[str, str]) -> None:
        self.path = parent / run_id
        self._lock_path = parent / f"{run_id}.lock"
        self._lock_fd: int | None = take_lock(self._lock_path)  # before the home exists
        try:
            self.path.mkdir(mode=0o700)
            for relative, text in files.items():
                target = self.path / relative
                ensure_private_dir(target.parent)
                atomic_write_text(target, text, fsync=False, mode=0o600)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                self._lock_path.unlink()
            os.close(self._lock_fd)
            self._lock_fd = None


def create_agent_home(state_dir: Path, run_id: str, files: dict[str, str]) -> AgentHome:
    """A fresh home for run ``run_id`` holding ``files``; OSError when it cannot be made."""
    parent = ensure_private_dir(state_dir / AGENT_HOMES_DIR)
    sweep_agent_homes(parent)
    return AgentHome(parent, run_id, files)


def sweep_agent_homes(parent: Path, *, stale_after: float = STALE_AFTER) -> list[str]:
    """Remove the homes (and lock files) of runs whose runner is gone; returns their ids."""
    removed: list[str] = []
    now = time.time()
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        run_id = entry.name.removesuffix(".lock")
        lock = parent / f"{run_id}.lock"
        home = parent / run_id
        try:
            if now - entry.lstat().st_mtime < stale_after or lock_is_held(lock):
                continue  # being made right now, or its runner is alive
        except OSError:
            continue
        shutil.rmtree(home, ignore_errors=True)
        with contextlib.suppress(OSError):
            lock.unlink()
        removed.append(run_id)
    return sorted(set(removed))
