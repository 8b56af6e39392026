"""Handing freed memory back to the system (glibc malloc; elsewhere nothing happens).

Building the index parses every run record: many short-lived objects, whose memory the
allocator keeps after they are freed, in the arena of the thread that built it (about
3 MB at 10,000 runs). An idle server should not hold on to that.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc


def release_free_memory() -> None:
    """Collect cyclic garbage, then return the allocator's free pages to the system."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL(None).malloc_trim(0)
