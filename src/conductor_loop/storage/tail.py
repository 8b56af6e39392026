"""Following a growing file (run output, agent stdout) from a byte offset.

Given the runs ``root`` the file lives in, it is opened under the containment rule.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

from conductor_loop.storage.containment import StrPath, opener
from conductor_loop.storage.watch import wait_for_changes

CHUNK = 256 * 1024


def read_new(path: Path, offset: int, root: StrPath | None = None) -> tuple[bytes, int]:
    """Bytes appended since ``offset`` and the new offset (a missing file reads empty)."""
    try:
        with open(path, "rb", opener=None if root is None else opener(root)) as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return b"", offset
    return data, offset + len(data)


def follow_bytes(
    path: Path,
    stop: threading.Event,
    *,
    offset: int = 0,
    safety_interval: float = 1.0,
    root: StrPath | None = None,
) -> Iterator[bytes]:
    """Yield chunks as they are appended to ``path`` until ``stop`` is set.

    After ``stop`` is set, whatever was written before it is still yielded, so a
    follower that stops when the run ends never misses the last lines.
    """
    for _ in wait_for_changes(path, stop, safety_interval=safety_interval):
        data, offset = read_new(path, offset, root)
        if data:
            yield data
        if stop.is_set():
            break
    data, offset = read_new(path, offset, root)
    if data:
        yield data


def last_lines(path: Path, count: int, root: StrPath | None = None) -> bytes:
    """The last ``count`` lines of ``path`` (all when ``count`` is 0), read from the end."""
    with open(path, "rb", opener=None if root is None else opener(root)) as handle:
        size = os.fstat(handle.fileno()).st_size
        if count <= 0:
            return handle.read()
        start = size
        block = 8192
        data = b""
        while start > 0:
            start = max(0, start - block)
            handle.seek(start)
            data = handle.read(size - start)
            if data.count(b"\n") > count:
                break
            block *= 4
    lines = data.splitlines(keepends=True)
    return b"".join(lines[-count:])
