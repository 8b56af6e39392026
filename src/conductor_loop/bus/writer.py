"""Appending to a bus file: O_APPEND, exclusive flock, one write per record.

A writer keeps its file open between appends (the hot path is a handful of system
calls), notices when another process rotated the file, and repairs a torn tail left
by a writer that died mid-write by starting its record on a fresh line.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

from conductor_loop.bus.message import Message, format_record, replace_surrogates
from conductor_loop.errors import BusLockTimeoutError, InvalidRequestError, storage_writes
from conductor_loop.storage import strpath
from conductor_loop.storage.containment import StrPath, open_inside
from conductor_loop.storage.ids import new_msg_id, utc_stamp

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `bus post` start-up
if TYPE_CHECKING:
    from types import TracebackType

DEFAULT_LOCK_TIMEOUT = 10.0


_last_ts: tuple[int, str] = (-1, "")


def message_ts(now_ns: int) -> str:
    """``ts`` for a message appended at ``now_ns``: ISO-8601 UTC, whole seconds."""
    global _last_ts
    seconds = now_ns // 1_000_000_000
    cached_seconds, ts = _last_ts
    if seconds != cached_seconds:
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
        _last_ts = (seconds, ts)
    return ts


def _record_bytes(msg: Message) -> bytes:
    """The UTF-8 record for ``msg``; lone surrogates in it become U+FFFD first (in ``msg``
    too, so the caller sees what was stored)."""
    record = format_record(msg)
    if "\\ud" not in record:  # how ``scalar`` writes a lone surrogate in the header
        try:
            return record.encode("utf-8")
        except UnicodeEncodeError:
            pass  # one in the body
    if replace_surrogates(msg):
        record = format_record(msg)
    return record.encode("utf-8")


def prepare_record(msg: Message) -> bytes:
    """Check ``msg``, fill ``msg_id`` (always new) and ``ts`` (if empty); its record bytes."""
    if not msg.type:
        raise InvalidRequestError("message type is required")
    if not msg.project_id:
        raise InvalidRequestError("message project_id is required")
    now_ns = time.time_ns()
    msg.msg_id = new_msg_id(now_ns)
    if not msg.ts:
        msg.ts = message_ts(now_ns)
    if msg.type == "ISSUE" and not msg.issue_id:
        msg.issue_id = msg.msg_id
    return _record_bytes(msg)


class BusWriter:
    """Appends records to one bus file. Safe across processes; use one per thread.

    Given the runs ``root`` the bus lives in, the file is opened under the containment
    rule (no symlink between the root and it); an explicit path elsewhere is opened as is.
    ``path`` is kept as a string (``run-agent bus post`` does not import pathlib).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = False,
        rotate_bytes: int = 0,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        root: StrPath | None = None,
    ) -> None:
        self.path = strpath.normal(os.fspath(path))
        self.root = root
        self.fsync = fsync
        self.rotate_bytes = rotate_bytes
        self.lock_timeout = lock_timeout
        self._fd = -1
        self._ino = -1
        self._known_end = -1  # file size right after our last write (last byte is "\n")

    def __enter__(self) -> BusWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _open(self) -> None:
        self.close()
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        if self.root is not None:
            self._fd = open_inside(self.root, self.path, flags, 0o644, make_dirs=True)
        else:
            os.makedirs(strpath.parent(self.path), exist_ok=True)
            self._fd = os.open(self.path, flags, 0o644)
        self._ino = os.fstat(self._fd).st_ino
        self._known_end = -1

    def _lock(self) -> None:
        deadline = None
        delay = 0.0002
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.lock_timeout
            elif now >= deadline:
                raise BusLockTimeoutError(
                    f"message bus {self.path} is locked by another writer; gave up after "
                    f"{self.lock_timeout:g}s (is a process stuck holding it?)"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.01)

    def append(self, msg: Message) -> Message:
        """Append ``msg``; fills ``msg_id`` (always new) and ``ts`` (if empty). Returns it."""
        record = prepare_record(msg)
        with storage_writes(self.path):
            self.append_raw(record)
        return msg

    def append_raw(self, record: bytes) -> None:
        """Append pre-formatted record bytes under the lock (one write system call)."""
        for _attempt in range(100):
            if self._fd < 0:
                self._open()
            self._lock()
            stale = False
            try:
                try:
                    stale = os.stat(self.path).st_ino != self._ino
                except FileNotFoundError:
                    stale = True
                if stale:
                    continue  # rotated or removed by another process: reopen and retry
                size = os.fstat(self._fd).st_size
                if self.rotate_bytes and size and size + len(record) > self.rotate_bytes:
                    self._rotate()
                    stale = True
                    continue
                if size and size != self._known_end and os.pread(self._fd, 1, size - 1) != b"\n":
                    record = b"\n" + record  # a writer died mid-record: start on a new line
                view = memoryview(record)
                try:
                    while view:
                        view = view[os.write(self._fd, view) :]
                except OSError:  # e.g. the disk filled up mid-record: leave no torn record
                    try:  # noqa: SIM105  (contextlib.suppress: `bus post` does not import contextlib)
                        os.ftruncate(self._fd, size)
                    except OSError:
                        pass
                    raise
                if self.fsync:
                    os.fsync(self._fd)
                self._known_end = size + len(record)
                return
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                if stale:
                    self.close()
        raise BusLockTimeoutError(f"message bus {self.path} keeps being replaced; append failed")

    def rotate_now(self) -> None:
        """Archive the current file under the lock (``gc --rotate-bus``)."""
        if self._fd < 0:
            self._open()
        self._lock()
        try:
            if os.fstat(self._fd).st_size:
                self._rotate()
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self.close()

    def _rotate(self) -> None:
        """Rename the full file to ``<file>.<stamp>.archived`` (we hold its lock)."""
        archived = f"{self.path}.{utc_stamp()}.archived"  # beside it
        os.rename(self.path, archived)


def append_message(
    path: str | os.PathLike[str],
    msg: Message,
    *,
    fsync: bool = False,
    rotate_bytes: int = 0,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    root: StrPath | None = None,
) -> Message:
    """One-shot append (opens, locks, writes, closes); ``root`` as for ``BusWriter``."""
    with BusWriter(
        path, fsync=fsync, rotate_bytes=rotate_bytes, lock_timeout=lock_timeout, root=root
    ) as w:
        return w.append(msg)
