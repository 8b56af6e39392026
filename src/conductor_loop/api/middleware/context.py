"""The outermost layer: request ids, the access log and request metrics.

Per request it does only what must be: an id from a counter (not ``uuid4``), three
precomputed headers, one dict increment for the metrics (no lock), and one access
line formatted with an f-string into a batch logged once per turn of the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conductor_loop.runner.identity import instance_id

access_log = logging.getLogger("conductor_loop.api.access")

REQUEST_ID_HEADER = b"x-request-id"
INSTANCE_HEADER = b"x-conductor-instance"
WORKER_HEADER = b"x-conductor-worker"
_OURS = frozenset((REQUEST_ID_HEADER, INSTANCE_HEADER, WORKER_HEADER))
_CLIENT_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}\Z")
_HEADER_UNSAFE = re.compile(rb"[^\x21-\x7e]+")
# Metric labels must stay few: any other method (a client may send any token) is "other".
STANDARD_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")
)

# Requests by (method, route template, status): a plain dict, written by the event loop's
# thread only (no lock), read by ``metrics.Metrics`` at scrape time.
RequestTally = dict[tuple[str, str, int], int]


class AccessLog:
    """Access lines, logged in batches: one log record per turn of the event loop (or per
    ``MAX_BATCH`` lines) instead of one per request. Under load a turn ends many
    requests; idle, a line is written as soon as its response is sent.

    Each line after the first of a batch carries the prefix that the server's log format
    (``server.configure_logging``) would give it, stamped when its request ended, so the
    log reads as one line per request. Nothing is kept when the logger is not enabled
    for INFO. ``flush()`` at shutdown writes what is pending.
    """

    MAX_BATCH = 200

    def __init__(self, logger: logging.Logger = access_log) -> None:
        self.logger = logger
        self._pending: list[str] = []
        self._second = -1
        self._prefix = ""

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def add(self, line: str) -> None:
        now = int(time.time())
        if now != self._second:
            self._second = now
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))
            self._prefix = f"{stamp} INFO {self.logger.name}: "
        pending = self._pending
        if not pending:
            asyncio.get_running_loop().call_soon(self.flush)
        pending.append(line if not pending else self._prefix + line)
        if len(pending) >= self.MAX_BATCH:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self.logger.info("%s", "\n".join(batch))


class RequestContextMiddleware:
    """Outermost layer: sets ``X-Request-ID``, ``X-Conductor-Instance`` and
    ``X-Conductor-Worker`` on every response, logs and counts requests.

    A client's own ``X-Request-ID`` is kept when it is a short token; anything else is
    replaced by a fresh id (32 hex digits: this process's random prefix and a counter).
    ``X-Conductor-Instance`` names the server that answered (``CONDUCTOR_INSTANCE_ID``,
    else the host name: the container id under Docker), so behind a load balancer a
    client can tell the replicas apart; ``X-Conductor-Worker`` is the pid of the worker
    process (``conductor --workers N``). The access log line carries the path without
    the query string, so nothing a client puts in the URL query ends up in the log.
    """

    def __init__(
        self, app: ASGIApp, requests: RequestTally, access: AccessLog | None = None
    ) -> None:
        self.app = app
        self.requests = requests
        self.access = access or AccessLog()
        # Visible ASCII only: the id may come from the environment.
        instance = _HEADER_UNSAFE.sub(b"_", instance_id().encode("utf-8")) or b"-"
        self.own_headers = [(INSTANCE_HEADER, instance), (WORKER_HEADER, str(os.getpid()).encode())]
        self._id_prefix = os.urandom(8).hex()
        self._ids = itertools.count(1)

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
            request_id = f"{self._id_prefix}{next(self._ids):016x}".encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()
        started = time.perf_counter()
        status = 500
        own_headers = [(REQUEST_ID_HEADER, request_id), *self.own_headers]

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", ())
                if any(k in _OURS for k, _v in headers):
                    headers = [(k, v) for k, v in headers if k not in _OURS]
                message["headers"] = [*headers, *own_headers]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            key = (method if method in STANDARD_METHODS else "other", template, status)
            requests = self.requests
            requests[key] = requests.get(key, 0) + 1
            if self.access.enabled:
                elapsed = (time.perf_counter() - started) * 1000
                self.access.add(
                    f'{_client(scope)} "{printable(method)} {printable(scope["path"])}" '
                    f"{status} {elapsed:.1f}ms id={request_id.decode()}"
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
