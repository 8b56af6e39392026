"""A cross-process limit on concurrent runs (``defaults.max_concurrent_runs``).

Each slot is a lock file under ``<root>/.slots``; holding its ``flock`` is holding the
slot. The kernel drops the lock when the holder dies, so a crashed runner frees its slot
with no cleanup.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from conductor_loop.errors import ConductorError
from conductor_loop.storage.locks import take_lock

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
    waiter = cancel or threading.Event()
    while True:
        for index in range(limit):
            try:
                fd = take_lock(slots_dir / f"slot-{index}.lock", blocking=False)
            except BlockingIOError:
                continue
            try:
                yield index
            finally:
                os.close(fd)
            return
        if waiter.wait(poll_interval):
            raise ConductorError("cancelled while waiting for a run slot")
