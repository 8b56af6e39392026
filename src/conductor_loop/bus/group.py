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

The server's request handlers post with ``append_async``: the handler awaits an asyncio
future instead of blocking a thread. An async poster never leads (that would block its
event loop); when the next batch falls to one, a writer thread of the committers' pool
drains the queue, and completes each future through its loop's ``call_soon_threadsafe``,
once per batch and loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conductor_loop.bus.message import Message
from conductor_loop.bus.writer import DEFAULT_LOCK_TIMEOUT, BusWriter, prepare_record
from conductor_loop.errors import storage_writes
from conductor_loop.storage.containment import StrPath

# A batch stops growing past this many bytes; the rest waits for the next leader.
MAX_BATCH_BYTES = 1 << 20
# A bus file's descriptor is closed once no post came for this long (reopening costs
# more than an append; an open one would keep a deleted file's space, or a remount busy).
IDLE_CLOSE_SECONDS = 2.0
# Writer threads draining the queues of async posters (one per bus file at most).
DRAIN_THREADS = 4


class _Slot:
    __slots__ = ("done", "error", "future", "lead", "record")

    def __init__(self, record: bytes, future: asyncio.Future[None] | None = None) -> None:
        self.record = record
        # A thread poster waits on ``done``; an async one awaits ``future``.
        self.done = threading.Event() if future is None else None
        self.future = future
        self.lead = False  # set with ``done`` when this poster is to lead the next batch
        self.error: BaseException | None = None


def _settle(slots: list[_Slot]) -> None:
    """In the event loop: answer the async posters of one batch (a cancelled one, whose
    client went away, is skipped; its message is stored all the same)."""
    for slot in slots:
        future = slot.future
        assert future is not None
        if not future.done():
            if slot.error is None:
                future.set_result(None)
            else:
                future.set_exception(slot.error)


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
        drain: ThreadPoolExecutor | None = None,
    ) -> None:
        self._drain_pool = drain
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
            assert slot.done is not None
            slot.done.wait()
            if not slot.lead:
                if slot.error is not None:
                    raise slot.error
                return msg
        self._lead()
        if slot.error is not None:
            raise slot.error
        return msg

    async def append_async(self, msg: Message) -> Message:
        """``append`` for a coroutine: awaits the write covering ``msg`` without blocking
        the event loop. If the awaiting task is cancelled (its client went away), the
        message is still written, once."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._mutex:
            slot = _Slot(prepare_record(msg), future)
            self._queue.append(slot)
            self._last_post = time.monotonic()
            start = not self._busy
            self._busy = True
        if start:
            self._start_drain()
        await future
        return msg

    def _start_drain(self) -> None:
        if self._drain_pool is None:
            threading.Thread(target=self._drain, name="bus-commit", daemon=True).start()
        else:
            self._drain_pool.submit(self._drain)

    def _drain(self) -> None:
        """A writer thread: append batches until the queue is empty or a thread poster
        is next (it leads its own batch)."""
        while True:
            heir = self._commit_batch()
            if heir is None:
                return
            if heir.future is None:
                self._hand_over(heir)
                return

    def _lead(self) -> None:
        """Append one batch from the head of the queue, then hand over or stand down."""
        heir = self._commit_batch()
        if heir is not None:
            self._hand_over(heir)

    def _hand_over(self, heir: _Slot) -> None:
        if heir.done is not None:
            heir.lead = True
            heir.done.set()
        else:
            self._start_drain()

    def _commit_batch(self) -> _Slot | None:
        """Append one batch and answer its posters; the head of the queue left (whoever
        is to lead next), or None once the queue is empty (no one is busy then)."""
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
        by_loop: dict[asyncio.AbstractEventLoop, list[_Slot]] = {}
        for queued in batch:
            queued.error = error
            queued.lead = False
            if queued.done is not None:
                queued.done.set()
            else:
                assert queued.future is not None
                by_loop.setdefault(queued.future.get_loop(), []).append(queued)
        for loop, slots in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: no one waits any more
                loop.call_soon_threadsafe(_settle, slots)
        return heir

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
        self._drain = ThreadPoolExecutor(DRAIN_THREADS, thread_name_prefix="bus-commit")

    def append(self, path: str | os.PathLike[str], msg: Message) -> Message:
        return self.for_path(path).append(msg)

    async def append_async(self, path: str | os.PathLike[str], msg: Message) -> Message:
        """``append`` awaited: the event loop goes on while the write is made."""
        return await self.for_path(path).append_async(msg)

    def for_path(self, path: str | os.PathLike[str]) -> GroupCommitter:
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
                        key,
                        fsync=self._fsync,
                        rotate_bytes=self._rotate_bytes,
                        root=self._root,
                        drain=self._drain,
                    )
                    self._by_path[key] = committer
        return committer

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
