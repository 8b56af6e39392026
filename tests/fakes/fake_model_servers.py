"""Scripted fake model APIs for the real agent CLIs: Anthropic Messages, OpenAI Responses
and Gemini ``streamGenerateContent``, each streaming SSE as the provider does.

A test scripts the model's turns in one protocol-neutral form (``Reply``), starts the
server for the CLI under test, points the CLI at ``server.url`` and asserts on what the
server received::

    with AnthropicServer(Reply.shell("touch DONE"), Reply.answer("Done.")) as server:
        ...  # run claude with ANTHROPIC_BASE_URL=server.url
        assert server.model_requests[1].body["messages"][-1]  # holds the tool_result

Each model request takes the next scripted reply (``default`` once the script is used
up). Requests that are not a turn of the conversation under test (claude's ``HEAD /``
probe and its session-title request, gemini's routing call) get a fixed answer without
using up the script; every request is recorded either way, with secret headers
redacted (``authorized`` says whether they carried ``expected_token``).

Standard library only; the HTTP plumbing is ``tests.fakes.fake_openai_server``'s.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tests.fakes.sse import BackgroundServer, SseHandler

_MAX_WAIT = 30.0
SECRET_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")
REDACTED = "<redacted>"


@dataclass(frozen=True)
class Usage:
    """Token counts a reply reports. ``input_tokens`` includes the cached ones."""

    input_tokens: int = 12
    output_tokens: int = 5
    cached_input_tokens: int = 0


SIDE_USAGE = Usage(4, 3)
"""What a side answer (a session title, a routing choice) reports."""


@dataclass
class Reply:
    """One model turn. Build with the class methods."""

    text: str = ""
    """The answer, streamed in a few deltas (narration before a tool call, if any)."""
    command: str | None = None
    """A shell command the model asks the CLI to run (its own shell tool)."""
    status: int = 200
    error_message: str = ""
    stall: bool = False
    """Send the response headers and first event, then nothing until the server closes."""
    usage: Usage = field(default_factory=Usage)
    started: threading.Event = field(default_factory=threading.Event)
    """Set when the server took this reply for a request."""

    @classmethod
    def answer(cls, text: str, usage: Usage | None = None) -> Reply:
        return cls(text=text, usage=usage or Usage())

    @classmethod
    def shell(cls, command: str, text: str = "", usage: Usage | None = None) -> Reply:
        return cls(text=text, command=command, usage=usage or Usage())

    @classmethod
    def error(cls, status: int, message: str = "scripted failure") -> Reply:
        return cls(status=status, error_message=message)

    @classmethod
    def stalled(cls) -> Reply:
        return cls(stall=True)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names; secret values replaced by ``<redacted>``."""
    body: Any
    authorized: bool | None
    """Whether a secret header carried ``expected_token`` (None: no token expected)."""
    scripted: bool
    """Whether it took a scripted reply (a model turn), not a fixed side answer."""


class FakeModelServer(BackgroundServer):
    """Serve one provider's API on 127.0.0.1 at a free port, in a background thread."""

    name: ClassVar[str]
    default_model: ClassVar[str]

    def __init__(
        self, *replies: Reply, default: Reply | None = None, expected_token: str | None = None
    ) -> None:
        self._replies: deque[Reply] = deque(replies)
        self.default = default or Reply.answer(f"Default answer from the fake {self.name}.")
        self.expected_token = expected_token
        self.requests: list[RecordedRequest] = []
        self.reported: list[Usage] = []
        """The usage of every complete answer sent, side answers included."""
        super().__init__(_Handler)

    @property
    def reported_usage(self) -> Usage:
        """The token counts this server reported to its client, summed."""
        with self._lock:
            return Usage(
                sum(usage.input_tokens for usage in self.reported),
                sum(usage.output_tokens for usage in self.reported),
                sum(usage.cached_input_tokens for usage in self.reported),
            )

    def note_usage(self, usage: Usage) -> None:
        with self._lock:
            self.reported.append(usage)

    @property
    def model_requests(self) -> list[RecordedRequest]:
        """The requests that were turns of the conversation (took a scripted reply)."""
        with self._lock:
            return [request for request in self.requests if request.scripted]

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def wait_for_model_requests(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while sum(request.scripted for request in self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def record(self, handler: _Handler, body: Any, scripted: bool) -> Reply | None:
        """Log the request; for a model turn, take the next reply."""
        headers: dict[str, str] = {}
        authorized: bool | None = None
        for name, value in handler.headers.items():
            name = name.lower()
            if name in SECRET_HEADERS:
                if self.expected_token is not None:
                    token = value.removeprefix("Bearer ").strip()
                    authorized = bool(authorized) or token == self.expected_token
                value = REDACTED
            headers[name] = value
        if self.expected_token is not None and authorized is None:
            authorized = False
        recorded = RecordedRequest(
            handler.command, handler.path, headers, body, authorized, scripted
        )
        with self._lock:
            self.requests.append(recorded)
            self._lock.notify_all()
            if not scripted:
                return None
            reply = self._replies.popleft() if self._replies else self.default
        reply.started.set()
        return reply

    # What each protocol defines.

    def route(self, method: str, path: str, body: Any) -> str | None:
        """``"turn"``, ``"side"`` (a fixed answer), or None (404)."""
        raise NotImplementedError

    def side_answer(self, handler: _Handler, path: str, body: Any) -> None:
        handler.send_json(200, {})

    def error_payload(self, reply: Reply) -> dict[str, Any]:
        raise NotImplementedError

    def stream(self, handler: _Handler, reply: Reply, body: Any) -> None:
        """Write the SSE events of a successful reply (or of its stall)."""
        raise NotImplementedError


def _deltas(text: str) -> list[str]:
    """The answer in a few pieces, split on spaces, so the CLI really assembles a stream."""
    words = text.split(" ")
    if len(words) < 3:
        return [text] if text else []
    third = max(1, len(words) // 3)
    pieces = [
        " ".join(words[:third]),
        " ".join(words[third : 2 * third]),
        " ".join(words[2 * third :]),
    ]
    return [pieces[0], " " + pieces[1], " " + pieces[2]]


class _Handler(SseHandler):
    def do_HEAD(self) -> None:
        self._serve(None)

    def do_GET(self) -> None:
        self._serve(None)

    def do_POST(self) -> None:
        self._serve(self.read_json_body())

    def _serve(self, body: Any) -> None:
        fake: FakeModelServer = self.server.fake
        kind = fake.route(self.command, self.path, body)
        reply = fake.record(self, body, scripted=kind == "turn")
        if kind is None:
            self.send_json(404, {"error": {"message": f"no route {self.command} {self.path}"}})
        elif reply is None:
            fake.side_answer(self, self.path, body)
        elif reply.status != 200:
            self.send_json(reply.status, fake.error_payload(reply))
        else:
            try:
                self.start_sse()
                fake.stream(self, reply, body)
                if reply.stall:
                    fake.stopping.wait(_MAX_WAIT * 20)
                    self.drop()
                    return
                self.end_chunks()
                fake.note_usage(reply.usage)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True


class AnthropicServer(FakeModelServer):
    """The Messages API as Claude Code uses it: ``HEAD /`` then ``POST /v1/messages``.

    A request without tools is claude's session-title request: a side answer. The shell
    tool is ``Bash`` (``{"command": …}``).
    """

    name = "anthropic"
    default_model = "claude-sonnet-4-5"
    title = "Fake session title"

    def route(self, method: str, path: str, body: Any) -> str | None:
        if method in ("HEAD", "GET") and path.split("?")[0] in ("", "/"):
            return "side"
        if method == "POST" and path.split("?")[0] == "/v1/messages":
            return "turn" if isinstance(body, dict) and body.get("tools") else "side"
        return None

    def side_answer(self, handler: _Handler, path: str, body: Any) -> None:
        if handler.command != "POST":
            handler.send_json(200, {}, head_only=handler.command == "HEAD")
            return
        reply = Reply.answer(json.dumps({"title": self.title}), SIDE_USAGE)
        self.note_usage(reply.usage)
        if isinstance(body, dict) and body.get("stream"):
            handler.start_sse()
            self.stream(handler, reply, body)
            handler.end_chunks()
        else:
            handler.send_json(
                200, self._message(body, reply, [{"type": "text", "text": reply.text}])
            )

    def error_payload(self, reply: Reply) -> dict[str, Any]:
        kinds = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
        kind = kinds.get(reply.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": reply.error_message}}

    def _message(self, body: Any, reply: Reply, content: list[Any]) -> dict[str, Any]:
        usage = reply.usage
        return {
            "id": f"msg_fake_{id(reply):x}",
            "type": "message",
            "role": "assistant",
            "model": _model_of(body, self.default_model),
            "content": content,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage.input_tokens - usage.cached_input_tokens,
                "cache_read_input_tokens": usage.cached_input_tokens,
                "cache_creation_input_tokens": 0,
                "output_tokens": 1,
            },
        }

    def stream(self, handler: _Handler, reply: Reply, body: Any) -> None:
        handler.event(
            "message_start", {"type": "message_start", "message": self._message(body, reply, [])}
        )
        if reply.stall:
            return
        index = 0
        if reply.text:
            handler.event("content_block_start", _block_start(index, {"type": "text", "text": ""}))
            for piece in _deltas(reply.text):
                delta = {"type": "text_delta", "text": piece}
                handler.event("content_block_delta", _block_delta(index, delta))
            handler.event("content_block_stop", {"type": "content_block_stop", "index": index})
            index += 1
        if reply.command is not None:
            block = {"type": "tool_use", "id": f"toolu_fake_{index}", "name": "Bash", "input": {}}
            handler.event("content_block_start", _block_start(index, block))
            arguments = json.dumps({"command": reply.command, "description": "scripted command"})
            delta = {"type": "input_json_delta", "partial_json": arguments}
            handler.event("content_block_delta", _block_delta(index, delta))
            handler.event("content_block_stop", {"type": "content_block_stop", "index": index})
        stop_reason = "tool_use" if reply.command is not None else "end_turn"
        handler.event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": reply.usage.output_tokens},
            },
        )
        handler.event("message_stop", {"type": "message_stop"})


def _block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _block_delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _model_of(body: Any, default: str) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) and model else default


class OpenAIResponsesServer(FakeModelServer):
    """The Responses API as Codex uses it: ``POST /v1/responses`` with ``stream: true``.

    The shell tool is the ``exec_command`` function (``{"cmd": …}``).
    """

    name = "openai"
    default_model = "gpt-5.5"

    def route(self, method: str, path: str, body: Any) -> str | None:
        if method == "POST" and path.split("?")[0] == "/v1/responses":
            return "turn"
        return None

    def error_payload(self, reply: Reply) -> dict[str, Any]:
        codes = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
        return {
            "error": {
                "message": reply.error_message,
                "type": "invalid_request_error" if reply.status < 500 else "server_error",
                "code": codes.get(reply.status),
                "param": None,
            }
        }

    def stream(self, handler: _Handler, reply: Reply, body: Any) -> None:
        response: dict[str, Any] = {
            "id": f"resp_fake_{id(reply):x}",
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "model": _model_of(body, self.default_model),
            "output": [],
        }
        sequence = iter(range(1_000_000))

        def send(kind: str, payload: dict[str, Any]) -> None:
            handler.event(kind, {"type": kind, "sequence_number": next(sequence), **payload})

        send("response.created", {"response": response})
        if reply.stall:
            return
        output: list[dict[str, Any]] = []
        if reply.text:
            item_id = f"msg_fake_{len(output)}"
            index = len(output)
            where = {"item_id": item_id, "output_index": index, "content_index": 0}
            item = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant"}
            send(
                "response.output_item.added",
                {"output_index": index, "item": {**item, "content": []}},
            )
            part = {"type": "output_text", "text": "", "annotations": []}
            send("response.content_part.added", {**where, "part": part})
            for piece in _deltas(reply.text):
                send("response.output_text.delta", {**where, "delta": piece})
            send("response.output_text.done", {**where, "text": reply.text})
            part = {**part, "text": reply.text}
            send("response.content_part.done", {**where, "part": part})
            item = {**item, "status": "completed", "content": [part]}
            send("response.output_item.done", {"output_index": index, "item": item})
            output.append(item)
        if reply.command is not None:
            index = len(output)
            arguments = json.dumps({"cmd": reply.command})
            item = {
                "id": f"fc_fake_{index}",
                "type": "function_call",
                "status": "in_progress",
                "call_id": f"call_fake_{index}",
                "name": "exec_command",
                "arguments": "",
            }
            where = {"item_id": item["id"], "output_index": index}
            send("response.output_item.added", {"output_index": index, "item": item})
            send("response.function_call_arguments.delta", {**where, "delta": arguments})
            send("response.function_call_arguments.done", {**where, "arguments": arguments})
            item = {**item, "status": "completed", "arguments": arguments}
            send("response.output_item.done", {"output_index": index, "item": item})
            output.append(item)
        usage = reply.usage
        response.update(
            status="completed",
            output=output,
            usage={
                "input_tokens": usage.input_tokens,
                "input_tokens_details": {"cached_tokens": usage.cached_input_tokens},
                "output_tokens": usage.output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": usage.input_tokens + usage.output_tokens,
            },
        )
        send("response.completed", {"response": response})


class GeminiServer(FakeModelServer):
    """The Gemini API as the Gemini CLI uses it:
    ``POST /v1beta/models/<model>:streamGenerateContent?alt=sse``.

    ``:generateContent`` (the model router's call when no ``-m`` is given, or a JSON
    side question) is a side answer. The shell tool is ``run_shell_command``.
    """

    name = "gemini"
    default_model = "gemini-2.5-flash"

    def route(self, method: str, path: str, body: Any) -> str | None:
        if method != "POST" or not path.startswith("/v1beta/models/"):
            return None
        action = path.split("?")[0].rsplit(":", 1)[-1]
        if action == "streamGenerateContent":
            return "turn"
        if action in ("generateContent", "countTokens"):
            return "side"
        return None

    def side_answer(self, handler: _Handler, path: str, body: Any) -> None:
        if path.split("?")[0].endswith(":countTokens"):
            handler.send_json(200, {"totalTokens": 12})
            return
        choice = {"reasoning": "scripted", "model_choice": "flash"}
        text = json.dumps(choice)
        self.note_usage(SIDE_USAGE)
        handler.send_json(200, self._chunk(path, [{"text": text}], "STOP", SIDE_USAGE))

    def error_payload(self, reply: Reply) -> dict[str, Any]:
        statuses = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            429: "RESOURCE_EXHAUSTED",
            500: "INTERNAL",
            503: "UNAVAILABLE",
        }
        status = statuses.get(reply.status, "UNKNOWN")
        return {"error": {"code": reply.status, "message": reply.error_message, "status": status}}

    def _chunk(
        self, path: str, parts: list[dict[str, Any]], finish: str | None, usage: Usage | None
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        chunk: dict[str, Any] = {
            "candidates": [candidate],
            "modelVersion": path.split("/models/", 1)[-1].split(":", 1)[0],
            "responseId": "fake-response",
        }
        if usage is not None:
            chunk["usageMetadata"] = {
                "promptTokenCount": usage.input_tokens,
                "candidatesTokenCount": usage.output_tokens,
                "cachedContentTokenCount": usage.cached_input_tokens,
                "totalTokenCount": usage.input_tokens + usage.output_tokens,
            }
        return chunk

    def stream(self, handler: _Handler, reply: Reply, body: Any) -> None:
        path = handler.path
        if reply.stall:
            handler.event(None, self._chunk(path, [{"text": ""}], None, None))
            return
        pieces: list[list[dict[str, Any]]] = [[{"text": piece}] for piece in _deltas(reply.text)]
        if reply.command is not None:
            call = {"name": "run_shell_command", "args": {"command": reply.command}}
            pieces.append([{"functionCall": call}])
        if not pieces:
            pieces = [[{"text": ""}]]
        for index, parts in enumerate(pieces):
            last = index == len(pieces) - 1
            handler.event(
                None,
                self._chunk(path, parts, "STOP" if last else None, reply.usage if last else None),
            )
