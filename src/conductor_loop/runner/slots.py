"""A cross-process limit on concurrent runs (``defaults.max_concurrent_runs``).

Each slot is a lock file under ``<root>/.slots``; holding its ``flock`` is holding the
slot. The kernel drops the lock when the holder dies, so a crashed runner frees its slot
with no cleanup.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from conductor_loop.errors import ConductorError

SLOTS_DIR = ".slots"


@contextlib.contextmanager
def run_slot(
    root: Path,
    limit: int,
    *,
    cancel: threading.Event | None = None,
    poll_interval: float = 0.05,
) -> Iterator[int | None]:
    """Hold one of ``limit`` slots for the duration (no limit when ``limit`` is 0)."""
    if limit <= 0:
        yield None
        return
    slots_dir = root / SLOTS_DIR
    slots_dir.mkdir(parents=True, exist_ok=True)
    fds = [
        os.open(slots_dir / f"slot-{i}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        for i in range(limit)
    ]
    held: int | None = None
    try:
        while held is None:
            for index, fd in enumerate(fds):
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                held = index
                break
            if held is None and cancel is not None and cancel.wait(poll_interval):
                raise ConductorError("cancelled while waiting for a run slot")
            if held is None and cancel is None:
                threading.Event().wait(poll_interval)
        yield held
    finally:
        for fd in fds:
            os.close(fd)
