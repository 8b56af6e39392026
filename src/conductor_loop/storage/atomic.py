"""Atomic file replacement: a reader sees the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from conductor_loop.errors import storage_writes
from conductor_loop.storage.containment import StrPath, open_dir_inside


def atomic_write_text(
    path: Path, text: str, *, fsync: bool = True, mode: int = 0o644, root: StrPath | None = None
) -> None:
    """Write ``text`` to a temp file beside ``path``, fsync it, then rename over ``path``.

    On failure the temp file is gone and ``path`` untouched; a full or read-only disk
    raises StorageError naming ``path``. With ``root`` (the runs root), the directory is
    reached under the containment rule and both steps happen relative to it. The rename
    replaces a symlink at ``path`` rather than writing through it.
    """
    data = text.encode("utf-8")
    head, name = os.path.split(path)
    tmp = f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
    with storage_writes(path):
        dir_fd = open_dir_inside(root, head) if root is not None else None
        if dir_fd is None:
            tmp, name = os.path.join(head, tmp), os.fspath(path)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
            fd = os.open(tmp, flags, mode, dir_fd=dir_fd)
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
                os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=dir_fd)
                raise
        finally:
            if dir_fd is not None:
                os.close(dir_fd)
