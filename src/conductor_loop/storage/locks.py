"""Lock files held with ``flock``: the kernel releases them when the holder dies, which
is what makes them a liveness signal (also across containers sharing a volume)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def take_lock(path: Path, *, blocking: bool = True) -> int:
    """Open (creating) ``path`` and take its exclusive lock; returns the fd to close later.

    Non-blocking: raises BlockingIOError (fd closed) when someone else holds it.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


def lock_is_held(path: Path) -> bool | None:
    """Whether some process holds the lock on ``path``; None when the file does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
