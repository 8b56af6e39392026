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
from conductor_loop.storage.containment import open_nofollow
from conductor_loop.storage.runinfo import current_host, iso_utc
from conductor_loop.storage.yamlish import parse_block, scalar

STOP_REQUEST_FILE = "STOP-REQUEST"


def request_stop(
    directory: Path, *, reason: str = "", requested_by: str = "", force: bool = False
) -> Path:
    """Ask the owner of the run (or task) in ``directory`` to stop it (``force``: no grace)."""
    path = directory / STOP_REQUEST_FILE
    who = requested_by or f"{current_host()}:{os.getpid()}"
    lines = [
        f"requested_at: {iso_utc()}",
        f"requested_by: {scalar(who)}",
        f"force: {str(force).lower()}",
    ]
    if reason:
        lines.append(f"reason: {scalar(reason)}")
    atomic_write_text(path, "\n".join(lines) + "\n", fsync=False)
    return path


def stop_request_reason(directory: Path) -> str:
    """The reason a stop request in ``directory`` gives ("" if none, or no request)."""
    try:
        with open(directory / STOP_REQUEST_FILE, "rb", opener=open_nofollow) as handle:
            text = handle.read(64 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return ""
    try:
        reason = parse_block(text).get("reason", "")
    except ValueError:
        return ""
    return reason if isinstance(reason, str) else ""


def stop_requested(directory: Path) -> bool:
    return os.path.exists(directory / STOP_REQUEST_FILE)


def clear_stop_request(directory: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(directory / STOP_REQUEST_FILE)
