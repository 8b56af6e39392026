"""A cross-process limit on concurrent runs (``defaults.max_concurrent_runs``).

Each slot is a lock file in a directory of the state dir kept for one runs root
(``slots_dir``: not under the root, where the Go tool would take it for a project);
holding its ``flock`` is holding the slot. The kernel drops the lock when the holder
dies, so a crashed runner frees its slot with no cleanup. Replicas share the state dir
(and mount the root at the same path), so they share the slots too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from conductor_loop.errors import ConductorError
from conductor_loop.storage.locks import take_lock

SLOTS_DIR = "slots"


def slots_dir(state_dir: Path, runs_root: Path) -> Path:
    """Where the slots of ``runs_root`` live: one directory per root, by its real path."""
    key = hashlib.sha256(os.path.realpath(runs_root).encode()).hexdigest()[:16]
    return state_dir / SLOTS_DIR / key


@contextlib.contextmanager
def run_slot(
    directory: Path,
    limit: int,
    *,
    cancel: threading.Event | None = None,
    poll_interval: float = 0.05,
) -> Iterator[int | None]:
    """Hold one of ``limit`` slots for the duration (no limit when ``limit`` is 0)."""
    if limit <= 0:
        yield None
        return
    directory.mkdir(parents=True, exist_ok=True)
    waiter = cancel or threading.Event()
    while True:
        for index in range(limit):
            try:
                fd = take_lock(directory / f"slot-{index}.lock", blocking=False)
            except BlockingIOError:
                continue
            try:
                yield index
            finally:
                os.close(fd)
            return
        if waiter.wait(poll_interval):
            raise ConductorError("cancelled while waiting for a run slot")
