"""Plain ASGI middleware: request ids, access log and metrics, body size limit, API key.

Plain ASGI (not ``BaseHTTPMiddleware``) so that streaming responses pass straight
through and client disconnects reach the SSE generators.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conductor_loop.api.errors import send_error
from conductor_loop.api.metrics import Metrics
from conductor_loop.runner.identity import instance_id

access_log = logging.getLogger("conductor_loop.api.access")

REQUEST_ID_HEADER = b"x-request-id"
INSTANCE_HEADER = b"x-conductor-instance"
_CLIENT_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}\Z")
_HEADER_UNSAFE = re.compile(rb"[^\x21-\x7e]+")


class RequestContextMiddleware:
    """Outermost layer: sets ``X-Request-ID`` and ``X-Conductor-Instance`` on every
    response, logs and counts requests.

    A client's own ``X-Request-ID`` is kept when it is a short token; anything else is
    replaced by a fresh id. ``X-Conductor-Instance`` names the server that answered
    (``CONDUCTOR_INSTANCE_ID``, else the host name: the container id under Docker), so
    behind a load balancer a client can tell the replicas apart. The access log line
    carries the path without the query string, so nothing a client puts in the URL
    query ends up in the log.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # Visible ASCII only: the id may come from the environment.
        self.instance = _HEADER_UNSAFE.sub(b"_", instance_id().encode("utf-8")) or b"-"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = b""
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER and _CLIENT_REQUEST_ID.match(value):
                request_id = value
                break
        if not request_id:
            request_id = uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v)
                    for k, v in message.get("headers", ())
                    if k not in (REQUEST_ID_HEADER, INSTANCE_HEADER)
                ]
                headers.append((REQUEST_ID_HEADER, request_id))
                headers.append((INSTANCE_HEADER, self.instance))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], template, status)
            access_log.info(
                '%s "%s %s" %d %.1fms id=%s',
                _client(scope),
                scope["method"],
                scope["path"],
                status,
                elapsed * 1000,
                request_id.decode(),
            )


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


class BodySizeLimitMiddleware:
    """Reject request bodies larger than ``max_bytes`` with 413 (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._reject(send)
                    return
        received = 0
        started = False
        rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request" and not rejected:
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    rejected = True
                    if not started:
                        await self._reject(send)
                    # The app sees a client that went away and gives up on the body.
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)

    async def _reject(self, send: Send) -> None:
        await send_error(
            send,
            413,
            "payload_too_large",
            f"request body is larger than the limit of {self.max_bytes} bytes (api.max_body_bytes)",
        )


class ApiKeyMiddleware:
    """Require the configured API key, except on public paths (health, version, metrics, UI).

    Accepts ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; compares in constant
    time. CORS preflight requests never reach this layer (the CORS middleware answers
    them), so browsers can discover the API before sending the key.
    """

    def __init__(self, app: ASGIApp, api_key: str, public_paths: Iterable[str]) -> None:
        self.app = app
        self._key = api_key.encode("utf-8")
        self._public_exact = frozenset(p for p in public_paths if not p.endswith("*"))
        self._public_prefixes = tuple(p[:-1] for p in public_paths if p.endswith("*"))

    def _is_public(self, path: str) -> bool:
        return path in self._public_exact or path.startswith(self._public_prefixes)

    def _presented(self, scope: Scope) -> bytes | None:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    return bytes(token.strip())
            elif name == b"x-api-key":
                return bytes(value.strip())
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        presented = self._presented(scope)
        if presented is None or not hmac.compare_digest(presented, self._key):
            await send_error(
                send,
                401,
                "unauthorized",
                "missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key'",
            )
            return
        await self.app(scope, receive, send)


_ENCODED_SEPARATORS = (b"%2f", b"%5c", b"%00")


class PathGuardMiddleware:
    """Reject dot segments and encoded separators in the URL path with 400.

    Path parameters are ids and are validated where they are declared; this layer
    catches what would otherwise never reach them (``%2F`` splitting a segment in two,
    ``..`` segments), so traversal attempts get the same 400 wherever they point.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = (scope.get("raw_path") or b"").lower()
            segments = scope["path"].split("/")
            if any(sep in raw for sep in _ENCODED_SEPARATORS) or any(
                s in (".", "..") or "\\" in s or "\x00" in s for s in segments
            ):
                await send_error(
                    send,
                    400,
                    "invalid_id",
                    "the URL path contains '.', '..', an encoded separator or a NUL; "
                    "ids must be single, plain path components",
                )
                return
        await self.app(scope, receive, send)
