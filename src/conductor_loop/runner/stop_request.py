"""Stop requests on disk, so any process sharing the runs root can stop any run.

Writing ``STOP-REQUEST`` into a run directory asks the runner that owns the run to stop
it; in a task directory it asks the task's loop to stop its current run and not restart.
The owning runner polls for the file (it is cheap: one ``stat``) at least every 0.5 s.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from conductor_loop.storage.atomic import atomic_write_text
from conductor_loop.storage.runinfo import current_host, iso_utc

STOP_REQUEST_FILE = "STOP-REQUEST"


def request_stop(
    directory: Path, *, reason: str = "", requested_by: str = "", force: bool = False
) -> Path:
    """Ask the owner of the run (or task) in ``directory`` to stop it (``force``: no grace)."""
    path = directory / STOP_REQUEST_FILE
    who = requested_by or f"{current_host()}:{os.getpid()}"
    lines = [f"requested_at: {iso_utc()}", f"requested_by: {who}", f"force: {str(force).lower()}"]
    if reason:
        lines.append(f"reason: {reason!r}")
    atomic_write_text(path, "\n".join(lines) + "\n", fsync=False)
    return path


def stop_requested(directory: Path) -> bool:
    return os.path.exists(directory / STOP_REQUEST_FILE)


def clear_stop_request(directory: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(directory / STOP_REQUEST_FILE)
