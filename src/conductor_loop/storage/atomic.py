"""Atomic file replacement: a reader sees the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from conductor_loop.errors import storage_writes


def atomic_write_text(path: Path, text: str, *, fsync: bool = True, mode: int = 0o644) -> None:
    """Write ``text`` to a temp file beside ``path``, fsync it, then rename over ``path``.

    On failure the temp file is gone and ``path`` untouched; a full or read-only disk
    raises StorageError naming ``path``.
    """
    data = text.encode("utf-8")
    head, name = os.path.split(path)
    tmp = os.path.join(head, f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with storage_writes(path):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                if fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
