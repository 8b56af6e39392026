"""Server-sent event streams: one run's output and status, all runs, bus messages.

Every event that carries data has an ``id`` from which the stream can be resumed
exactly (``Last-Event-ID``): for run output it is the byte offsets just past the line in
agent-stdout.txt and agent-stderr.txt (``"<stdout>-<stderr>"``), for messages the
``msg_id``, for the all-runs stream ``<boot>-<seq>`` of the index change log. A stream
sleeps on its ``Subscription`` and reads what is new from disk when woken; a periodic
safety wake-up covers file systems where change notification is silent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conductor_loop.api.hub import Hub
from conductor_loop.api.metrics import Metrics
from conductor_loop.bus.reader import read_from
from conductor_loop.errors import ContainmentError
from conductor_loop.orchestration.index import KEY_RUNS, Index, bus_key, run_key
from conductor_loop.storage.containment import check_inside, opener
from conductor_loop.storage.layout import STDERR_FILE, STDOUT_FILE
from conductor_loop.storage.runinfo import FINISHED_STATUSES

log = logging.getLogger("conductor_loop.api")

SAFETY_INTERVAL = 1.0
MAX_LINE_BYTES = 64 * 1024
READ_CHUNK = 256 * 1024
RETRY_MS = 2000
STREAM_FILES = {"stdout": STDOUT_FILE, "stderr": STDERR_FILE}


def encode_event(event: str, data: Any, event_id: str | None = None) -> bytes:
    """One SSE event; ``data`` is sent as a single line of JSON."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {payload}\n\n".encode()


@dataclass(slots=True)
class StreamSettings:
    heartbeat_interval: float = 15.0


class StreamContext:
    """What every stream needs: the hub, the index, metrics and the heartbeat clock."""

    def __init__(self, hub: Hub, index: Index, metrics: Metrics, settings: StreamSettings):
        self.hub = hub
        self.index = index
        self.metrics = metrics
        self.settings = settings
        self.boot_id = f"{int(time.time()):x}"
        self.clients = 0

    async def run(
        self,
        keys: list[str],
        body: Callable[[_Pump], AsyncIterator[bytes]],
    ) -> AsyncIterator[bytes]:
        """Drive ``body`` with a subscription; heartbeats and bookkeeping live here."""
        self.clients += 1
        self.metrics.sse_clients.inc()
        self.metrics.sse_connections.inc()
        sub = self.hub.subscribe(keys)
        pump = _Pump(self, sub.wait)
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            async for chunk in body(pump):
                yield chunk
        except ContainmentError as exc:
            # A symlink planted after the stream began: end it; a reconnect gets the 403.
            log.warning("stream ended: %s", exc.message)
        finally:
            sub.close()
            self.clients -= 1
            self.metrics.sse_clients.dec()


class _Pump:
    """Waiting between reads: until notified, the safety interval, or a heartbeat is due."""

    def __init__(self, ctx: StreamContext, wait: Callable[[float], Any]) -> None:
        self._ctx = ctx
        self._wait = wait
        self._next_heartbeat = time.monotonic() + ctx.settings.heartbeat_interval

    @property
    def closed(self) -> bool:
        return self._ctx.hub.closed

    async def next(self) -> bytes | None:
        """Wait for something to do; returns a heartbeat event when one is due."""
        now = time.monotonic()
        timeout = min(SAFETY_INTERVAL, max(0.0, self._next_heartbeat - now))
        await self._wait(timeout)
        if time.monotonic() >= self._next_heartbeat:
            self._next_heartbeat = time.monotonic() + self._ctx.settings.heartbeat_interval
            return encode_event("heartbeat", {"ts": time.time()})
        return None


# -- run output ------------------------------------------------------------------------


def parse_offsets(last_event_id: str | None, count: int) -> list[int] | None:
    if not last_event_id:
        return None
    parts = last_event_id.strip().split("-")
    if len(parts) != count:
        return None
    try:
        offsets = [int(p) for p in parts]
    except ValueError:
        return None
    return offsets if all(o >= 0 for o in offsets) else None


class _Tail:
    """New complete lines of one file (under the runs ``root``) from a byte offset."""

    __slots__ = ("name", "offset", "opener", "path")

    def __init__(self, name: str, path: Path, offset: int, root: Path) -> None:
        self.name = name
        self.path = path
        self.offset = offset
        self.opener = opener(root)

    def read_lines(self, final: bool) -> list[tuple[str, int]]:
        """(line, offset after it) for each complete line; a final partial line if ``final``.

        A line longer than MAX_LINE_BYTES is sent in pieces rather than held back.
        """
        try:
            with open(self.path, "rb", opener=self.opener) as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < self.offset:
                    self.offset = 0  # truncated or replaced: start over
                if size == self.offset:
                    return []
                handle.seek(self.offset)
                data = handle.read(READ_CHUNK)
        except (FileNotFoundError, NotADirectoryError):
            return []
        at_eof = self.offset + len(data) >= size
        lines: list[tuple[str, int]] = []
        start = 0
        total = len(data)
        while start < total:
            newline = data.find(b"\n", start, start + MAX_LINE_BYTES + 1)
            if newline >= 0:
                end, next_start = newline, newline + 1
            elif total - start > MAX_LINE_BYTES:
                end = next_start = start + MAX_LINE_BYTES
            elif final and at_eof:
                end = next_start = total
            else:
                break
            line = data[start:end]
            if line.endswith(b"\r"):
                line = line[:-1]
            lines.append((line.decode("utf-8", "replace"), self.offset + next_start))
            start = next_start
        if lines:
            self.offset = lines[-1][1]
        return lines

    def has_more(self) -> bool:
        try:
            return os.stat(self.path).st_size > self.offset
        except (FileNotFoundError, NotADirectoryError):
            return False


def run_stream(
    ctx: StreamContext,
    run_id: str,
    streams: list[str],
    last_event_id: str | None,
) -> AsyncIterator[bytes]:
    entry = ctx.index.run(run_id)
    assert entry is not None
    run_dir = entry.run_dir
    root = ctx.index.root.path
    names = list(STREAM_FILES)
    offsets = parse_offsets(last_event_id, len(names)) or [0] * len(names)
    tails = {
        name: _Tail(name, run_dir / STREAM_FILES[name], offsets[i], root)
        for i, name in enumerate(names)
    }
    active = [tails[n] for n in names if n in streams]
    for tail in active:  # refused before the response starts, as a 403
        check_inside(root, tail.path)

    def event_id() -> str:
        return "-".join(str(tails[n].offset) for n in names)

    async def body(pump: _Pump) -> AsyncIterator[bytes]:
        sent_status: tuple[str, int] | None = None
        while not pump.closed:
            current = ctx.index.run(run_id, find_on_disk=False)
            finished = current is None or current.info.status in FINISHED_STATUSES
            for tail in active:
                while True:
                    lines = tail.read_lines(final=finished)
                    if not lines:
                        break
                    chunks = []
                    for line, after in lines:
                        ids = [after if n == tail.name else tails[n].offset for n in names]
                        chunks.append(
                            encode_event(
                                "log",
                                {"stream": tail.name, "line": line},
                                "-".join(str(o) for o in ids),
                            )
                        )
                    yield b"".join(chunks)
                    if not tail.has_more():
                        break
            if current is not None:
                status = (current.info.status, current.info.exit_code)
                if status != sent_status:
                    sent_status = status
                    yield encode_event(
                        "status",
                        {"run_id": run_id, "status": status[0], "exit_code": status[1]},
                        event_id(),
                    )
            if finished:
                yield encode_event(
                    "done",
                    {
                        "run_id": run_id,
                        "status": sent_status[0] if sent_status else "deleted",
                        "exit_code": sent_status[1] if sent_status else -1,
                    },
                    event_id(),
                )
                return
            heartbeat = await pump.next()
            if heartbeat is not None:
                yield heartbeat

    return ctx.run([run_key(run_id)], body)


# -- all runs --------------------------------------------------------------------------


def all_runs_stream(ctx: StreamContext, last_event_id: str | None) -> AsyncIterator[bytes]:
    index = ctx.index

    def start() -> tuple[list[str], int]:
        if last_event_id:
            boot, _, seq = last_event_id.strip().partition("-")
            if boot == ctx.boot_id and seq.isdigit():
                changed, current = index.changes_since(int(seq))
                if changed is not None:
                    return changed, current
        current = index.seq
        return [e.info.run_id for e in index.running_runs()], current

    async def body(pump: _Pump) -> AsyncIterator[bytes]:
        pending, seq = start()
        while not pump.closed:
            chunks = []
            for run_id in pending:
                entry = index.run(run_id, find_on_disk=False)
                data = entry.summary() if entry else {"run_id": run_id, "status": "deleted"}
                chunks.append(encode_event("status", data, f"{ctx.boot_id}-{seq}"))
            if chunks:
                yield b"".join(chunks)
            heartbeat = await pump.next()
            if heartbeat is not None:
                yield heartbeat
            changed, seq = index.changes_since(seq)
            if changed is None:  # more changes than the log keeps: resend what runs now
                changed = [e.info.run_id for e in index.running_runs()]
            pending = changed

    return ctx.run([KEY_RUNS], body)


# -- message bus -----------------------------------------------------------------------


def message_stream(
    ctx: StreamContext,
    bus_path: Path,
    last_event_id: str | None,
    *,
    after: str | None = None,
    tail: int | None = None,
) -> AsyncIterator[bytes]:
    root = ctx.index.root.path
    check_inside(root, bus_path)

    async def body(pump: _Pump) -> AsyncIterator[bytes]:
        messages, offset = await asyncio.to_thread(read_from, bus_path, 0, root=root)
        inode = _inode(bus_path)
        resume_from = last_event_id or after
        start = 0
        if resume_from:
            for i, msg in enumerate(messages):
                if msg.msg_id == resume_from:
                    start = i + 1
                    break
        elif tail is not None:
            start = max(0, len(messages) - tail)
        backlog = messages[start:]
        if backlog:
            yield b"".join(encode_event("message", m.to_dict(), m.msg_id) for m in backlog)
        while not pump.closed:
            heartbeat = await pump.next()
            if heartbeat is not None:
                yield heartbeat
            try:
                st = os.stat(bus_path)
            except FileNotFoundError:
                continue
            if (inode not in (None, st.st_ino)) or st.st_size < offset:
                offset = 0  # rotated: the new file holds only new messages
            inode = st.st_ino
            if st.st_size == offset:
                continue
            new, offset = read_from(bus_path, offset, root=root)
            if new:
                yield b"".join(encode_event("message", m.to_dict(), m.msg_id) for m in new)

    return ctx.run([bus_key(bus_path)], body)


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None
