"""Linux inotify through libc: a set of directory watches read without polling.

The server's watcher thread sleeps in ``poll`` (the GIL released) until the kernel has
events, so a change reaches it at once: no polling step, no wake-ups while idle.
Watches are added and removed one by one as the set of interesting directories
changes, with no gap in between. Elsewhere (no inotify) ``available()`` is False and
the caller falls back to watchfiles.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import struct
import sys

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name
OVERFLOW = "<overflow>"  # in a batch: events were lost, rescan


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1  # noqa: B018 - present?
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def available() -> bool:
    return _LIBC is not None


class Inotify:
    """Watches on directories (not recursive); ``read`` returns the changed paths."""

    def __init__(self) -> None:
        if _LIBC is None:
            raise OSError(errno.ENOSYS, "inotify is not available")
        self._libc = _LIBC
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        self.fd: int = fd
        self._by_wd: dict[int, str] = {}
        self._by_path: dict[str, int] = {}
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    @property
    def watched(self) -> set[str]:
        return set(self._by_path)

    def add(self, path: str) -> bool:
        """Watch ``path``; False if it is gone (or not a directory)."""
        if path in self._by_path:
            return True
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path), MASK)
        if wd < 0:
            err = ctypes.get_errno()
            if err in (errno.ENOENT, errno.ENOTDIR, errno.EACCES):
                return False
            raise OSError(err, f"inotify_add_watch {path}: {os.strerror(err)}")
        old = self._by_wd.get(wd)
        if old is not None and old != path:  # the same directory under another name
            self._by_path.pop(old, None)
        self._by_wd[wd] = path
        self._by_path[path] = wd
        return True

    def remove(self, path: str) -> None:
        wd = self._by_path.pop(path, None)
        if wd is not None:
            self._by_wd.pop(wd, None)
            self._libc.inotify_rm_watch(self.fd, wd)  # EINVAL if already gone: fine

    def read(self, timeout: float) -> set[str]:
        """Paths changed since the last call, waiting up to ``timeout`` seconds for one;
        holds ``OVERFLOW`` if the kernel dropped events."""
        if not self._poll.poll(int(timeout * 1000)):
            return set()
        changed: set[str] = set()
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return changed
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size
                name = data[offset : offset + length].rstrip(b"\0")
                offset += length
                if mask & IN_Q_OVERFLOW:
                    changed.add(OVERFLOW)
                    continue
                base = self._by_wd.get(wd)
                if base is None:
                    continue
                if mask & IN_IGNORED:  # the watch ended (directory removed)
                    self._by_wd.pop(wd, None)
                    if self._by_path.get(base) == wd:
                        del self._by_path[base]
                    changed.add(base)
                    continue
                changed.add(f"{base}/{os.fsdecode(name)}" if name else base)

    def close(self) -> None:
        if self.fd >= 0:
            self._poll.unregister(self.fd)
            os.close(self.fd)
            self.fd = -1
