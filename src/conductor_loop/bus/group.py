"""Group commit: messages posted to one bus file at the same time share one append.

The server posts from many request threads at once. Each append on its own costs an
open, a flock, a write and (with ``storage.bus_fsync``) an fsync, and the threads queue
on the flock. Here the first thread to arrive while no append is under way becomes the
leader: it takes every record queued so far, appends them with one locked write (and
one fsync), and only then releases their posters. So each message keeps its promise: a
poster returns only once the write (and the fsync) covering its record has completed.
Records are written in the order their posters arrived, and a failed write (a full
disk) stores none of the batch and fails every poster in it with the same error.

Other processes (``run-agent bus post``, the Go tool) take the same flock per append,
so their records land between batches, never inside one.
"""

from __future__ import annotations

import os
import threading
import time

from conductor_loop.bus.message import Message
from conductor_loop.bus.writer import DEFAULT_LOCK_TIMEOUT, BusWriter, prepare_record
from conductor_loop.errors import storage_writes
from conductor_loop.storage.containment import StrPath

# A batch stops growing past this many bytes; the rest waits for the next leader.
MAX_BATCH_BYTES = 1 << 20
# A bus file's descriptor is closed once no post came for this long (reopening costs
# more than an append; an open one would keep a deleted file's space, or a remount busy).
IDLE_CLOSE_SECONDS = 2.0


class _Slot:
    __slots__ = ("done", "error", "lead", "record")

    def __init__(self, record: bytes) -> None:
        self.record = record
        self.done = threading.Event()
        self.lead = False  # set with ``done`` when this poster is to lead the next batch
        self.error: BaseException | None = None


class GroupCommitter:
    """Appends to one bus file for many threads; one write (and fsync) per batch."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = False,
        rotate_bytes: int = 0,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        root: StrPath | None = None,
    ) -> None:
        self._writer = BusWriter(
            path, fsync=fsync, rotate_bytes=rotate_bytes, lock_timeout=lock_timeout, root=root
        )
        self._mutex = threading.Lock()
        self._queue: list[_Slot] = []
        self._busy = False  # a leader is at work (or about to be)
        self._writing = False  # a leader has taken its batch and is appending it
        self._last_post = 0.0  # monotonic
        self.batches = 0  # appends made (for tests and benchmarks)

    @property
    def path(self) -> str:
        return os.fspath(self._writer.path)

    @property
    def leading(self) -> bool:
        """Whether a batch is being appended now."""
        return self._writing

    @property
    def pending(self) -> int:
        """Messages queued for the next batch."""
        return len(self._queue)

    def append(self, msg: Message) -> Message:
        """Append ``msg`` (``msg_id`` and ``ts`` filled as ``BusWriter.append`` does);
        returns once the write covering it has completed."""
        with self._mutex:
            # Ids are given in queue order: within this process, file order is id order.
            slot = _Slot(prepare_record(msg))
            self._queue.append(slot)
            self._last_post = time.monotonic()
            lead = not self._busy
            self._busy = True
        if not lead:
            slot.done.wait()
            if not slot.lead:
                if slot.error is not None:
                    raise slot.error
                return msg
        self._lead()
        if slot.error is not None:
            raise slot.error
        return msg

    def _lead(self) -> None:
        """Append one batch from the head of the queue, then hand over or stand down."""
        with self._mutex:
            size = 0
            count = 0
            for queued in self._queue:
                if count and size + len(queued.record) > MAX_BATCH_BYTES:
                    break
                size += len(queued.record)
                count += 1
            batch = self._queue[:count]
            del self._queue[:count]
            self._writing = True
        error: BaseException | None = None
        try:
            with storage_writes(self._writer.path):
                self._writer.append_raw(b"".join(s.record for s in batch))
        except BaseException as exc:  # every poster in the batch gets it; none is stored
            error = exc
        with self._mutex:
            self._writing = False
            self.batches += 1
            if self._queue:
                heir: _Slot | None = self._queue[0]
            else:
                heir = None
                self._busy = False
        for queued in batch:
            queued.error = error
            queued.lead = False
            queued.done.set()
        if heir is not None:
            heir.lead = True
            heir.done.set()

    def close_if_idle(self, now: float, idle: float = IDLE_CLOSE_SECONDS) -> None:
        """Close the file if no post came for ``idle`` seconds (the next one reopens it)."""
        with self._mutex:
            if not self._busy and now - self._last_post >= idle:
                self._writer.close()

    def close(self) -> None:
        self.close_if_idle(float("inf"))


class GroupCommitters:
    """One committer per bus file, made on first use."""

    def __init__(
        self,
        *,
        fsync: bool = False,
        rotate_bytes: int = 0,
        root: StrPath | None = None,
    ) -> None:
        self._fsync = fsync
        self._rotate_bytes = rotate_bytes
        self._root = root
        self._mutex = threading.Lock()
        self._by_path: dict[str, GroupCommitter] = {}
        self._next_sweep = 0.0

    def append(self, path: str | os.PathLike[str], msg: Message) -> Message:
        key = os.fspath(path)
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + IDLE_CLOSE_SECONDS
            self.close_idle(now)
        committer = self._by_path.get(key)
        if committer is None:
            with self._mutex:
                committer = self._by_path.get(key)
                if committer is None:
                    committer = GroupCommitter(
                        key, fsync=self._fsync, rotate_bytes=self._rotate_bytes, root=self._root
                    )
                    self._by_path[key] = committer
        return committer.append(msg)

    def close_idle(self, now: float | None = None) -> None:
        """Close the files that had no post for a while."""
        now = time.monotonic() if now is None else now
        with self._mutex:
            committers = list(self._by_path.values())
        for committer in committers:
            committer.close_if_idle(now)

    def close(self) -> None:
        """Close every file (server shutdown)."""
        self.close_idle(float("inf"))
