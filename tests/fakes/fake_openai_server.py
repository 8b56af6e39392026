"""A local OpenAI-style streaming chat-completions server for the REST backends' tests.

Each request takes the next scripted ``Reply`` (or the default one when the script is
used up) and the server records what it received. Replies can stream normally, fail
with a status (and ``Retry-After``), drop the connection mid-stream, stream slowly,
hold a chunk back until the test opens a gate, or hang until the server closes::

    with FakeOpenAIServer() as server:
        server.enqueue(Reply.error(429, retry_after=0), Reply.stream("Hel", "lo"))
        config = AgentConfig(type="xai", base_url=server.base_url, token="t")
        ...
        assert server.requests[1].headers["authorization"] == "Bearer t"

Standard library only; ``close()`` (or leaving the ``with``) releases every waiting
handler and stops the server thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.sse import BackgroundServer, SseHandler

_MAX_WAIT = 30.0


@dataclass
class Reply:
    """What the server does with one request. Build with the class methods."""

    status: int = 200
    chunks: tuple[str, ...] = ("Hello", " from", " the fake server.")
    error_message: str | None = None
    retry_after: str | None = None
    model: str = "fake-model"
    usage: dict[str, Any] | None = None
    """The final chunk's ``usage``; by default 11 prompt tokens (4 of them cached) and
    one completion token per chunk."""
    extra: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds between chunks."""
    finish: bool = True
    """Send the closing chunk (``finish_reason: stop``) and ``data: [DONE]``."""
    drop_after: int | None = None
    """Cut the connection after this many content chunks."""
    gate: threading.Event | None = None
    gate_after: int = 1
    """With ``gate``: send this many chunks, then wait until the test sets the gate."""
    hang_after: int | None = None
    """Send this many chunks, then send nothing until the server closes."""
    started: threading.Event = field(default_factory=threading.Event)
    """Set once the response headers are out (the client is now streaming)."""
    multiline: bool = False
    """Send each chunk's JSON indented, over several ``data:`` lines of one event."""
    content_type: str = "text/event-stream"

    @classmethod
    def stream(cls, *chunks: str, **options: Any) -> Reply:
        return cls(chunks=chunks or cls.chunks, **options)

    @classmethod
    def error(
        cls, status: int, message: str = "scripted failure", retry_after: float | str | None = None
    ) -> Reply:
        after = None if retry_after is None else str(retry_after)
        return cls(status=status, error_message=message, retry_after=after)

    @classmethod
    def dropped(cls, *chunks: str, after: int = 1) -> Reply:
        return cls(chunks=chunks or cls.chunks, drop_after=after)

    @classmethod
    def gated(cls, *chunks: str, gate: threading.Event, after: int = 1) -> Reply:
        return cls(chunks=chunks or cls.chunks, gate=gate, gate_after=after)

    @classmethod
    def hanging(cls, *chunks: str, after: int = 1) -> Reply:
        return cls(chunks=chunks or cls.chunks, hang_after=after)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names."""
    body: Any
    raw_body: bytes


class FakeOpenAIServer(BackgroundServer):
    """Serve scripted replies on 127.0.0.1 at a free port, in a background thread."""

    def __init__(self, *replies: Reply, default: Reply | None = None) -> None:
        self._replies: deque[Reply] = deque(replies)
        self.default = default or Reply()
        self.requests: list[RecordedRequest] = []
        super().__init__(_Handler)

    @property
    def base_url(self) -> str:
        """What to put in an agent's ``base_url`` (requests go to ``…/chat/completions``)."""
        return f"{self.url}/v1"

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def _record(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
            return self._replies.popleft() if self._replies else self.default


class _Handler(SseHandler):
    def do_POST(self) -> None:
        body = self.read_json_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.fake._record(
            RecordedRequest("POST", self.path, headers, body, self.raw_body)
        )
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        if reply.status != 200:
            self._send_error_reply(reply)
            return
        try:
            self._stream(reply, body if isinstance(body, dict) else {})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_error_reply(self, reply: Reply) -> None:
        extra = {"Retry-After": reply.retry_after} if reply.retry_after is not None else {}
        payload = {
            "error": {
                "message": reply.error_message or f"HTTP {reply.status}",
                "type": "fake_error",
                "code": reply.status,
            }
        }
        self.send_json(reply.status, payload, extra)

    def _stream(self, reply: Reply, request: dict[str, Any]) -> None:
        stopping = self.server.fake.stopping
        self.start_sse(reply.content_type)
        reply.started.set()
        created = int(time.time())
        model = reply.model or str(request.get("model"))
        for index in range(len(reply.chunks) + 1):
            if reply.drop_after is not None and index >= reply.drop_after:
                self.drop()
                return
            if reply.gate is not None and index == reply.gate_after:
                reply.gate.wait(_MAX_WAIT)
            if reply.hang_after is not None and index >= reply.hang_after:
                stopping.wait(_MAX_WAIT)
                self.drop()
                return
            if index == len(reply.chunks):
                break
            if index and reply.delay:
                stopping.wait(reply.delay)
            delta: dict[str, Any] = {"content": reply.chunks[index]}
            if index == 0:
                delta["role"] = "assistant"
            self.event(
                None,
                self._chunk(created, model, reply, delta, None),
                multiline=reply.multiline,
            )
        if reply.finish:
            final = self._chunk(created, model, reply, {}, "stop")
            final["usage"] = reply.usage or {
                "prompt_tokens": 11,
                "completion_tokens": len(reply.chunks),
                "total_tokens": 11 + len(reply.chunks),
                "prompt_tokens_details": {"cached_tokens": 4},
            }
            self.event(None, final, multiline=reply.multiline)
            self.write_chunk(b"data: [DONE]\n\n")
        self.end_chunks()

    def _chunk(
        self, created: int, model: str, reply: Reply, delta: dict[str, Any], finish: str | None
    ) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            **reply.extra,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
