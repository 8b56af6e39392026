"""The outermost layer: request ids, the access log and request metrics."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conductor_loop.api.metrics import Metrics
from conductor_loop.runner.identity import instance_id

access_log = logging.getLogger("conductor_loop.api.access")

REQUEST_ID_HEADER = b"x-request-id"
INSTANCE_HEADER = b"x-conductor-instance"
WORKER_HEADER = b"x-conductor-worker"
_OURS = (REQUEST_ID_HEADER, INSTANCE_HEADER, WORKER_HEADER)
_CLIENT_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}\Z")
_HEADER_UNSAFE = re.compile(rb"[^\x21-\x7e]+")
# Metric labels must stay few: any other method (a client may send any token) is "other".
STANDARD_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")
)


class RequestContextMiddleware:
    """Outermost layer: sets ``X-Request-ID`` and ``X-Conductor-Instance`` on every
    response, logs and counts requests; ``X-Conductor-Worker`` is the pid of the worker
    process that answered.

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
        # The process that answered: with `conductor --workers N`, which worker it was.
        self.worker = str(os.getpid()).encode()

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
                headers = [(k, v) for k, v in message.get("headers", ()) if k not in _OURS]
                headers.append((REQUEST_ID_HEADER, request_id))
                headers.append((INSTANCE_HEADER, self.instance))
                headers.append((WORKER_HEADER, self.worker))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.observe_request(
                method if method in STANDARD_METHODS else "other", template, status
            )
            access_log.info(
                '%s "%s %s" %d %.1fms id=%s',
                _client(scope),
                printable(method),
                printable(scope["path"]),
                status,
                elapsed * 1000,
                request_id.decode(),
            )


def printable(text: str) -> str:
    """``text`` with control characters (CR, LF, NUL, ESC, U+2028, …) escaped, so that a
    request cannot forge or garble access log lines. Backslashes are doubled, so an
    escape in the log always means an escaped character."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(
        c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode() for c in text
    )


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"
