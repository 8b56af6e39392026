"""Connections that cannot pin the server: a header deadline, a cap, no log flood.

uvicorn closes an idle kept-alive connection after ``timeout_keep_alive``, but a fresh
connection that never sends a request, or sends half of one, is kept forever. Enough
of them exhaust the file descriptors: every ``accept`` then fails and asyncio logs a
traceback for each. So:

- every connection must deliver a request's headers within ``api.header_timeout`` of
  opening (or of its previous response ending), or it is closed;
- beyond ``api.max_connections`` open connections, a new one is answered ``503`` as
  soon as its request arrives (the app never sees it) and closed;
- the soft limit on open files is raised to the hard limit at start, and the cap is
  kept below it, with room for the files the server itself opens;
- should ``accept`` still fail for want of resources, asyncio's report is logged once
  a minute, without its traceback.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import TYPE_CHECKING, Any

from conductor_loop.api.errors import error_body

# Descriptors kept free for what the server opens itself: bus and run files, watches,
# task runners' pipes.
FD_RESERVE = 128
# How long a connection over the cap may take to send its request and get the 503.
BUSY_WAIT = 1.0

if TYPE_CHECKING:
    from uvicorn.protocols.http.h11_impl import H11Protocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_BUSY_BODY = error_body(
    "too_many_connections",
    "the server has too many open connections (api.max_connections); retry shortly",
)
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: application/json\r\n"
    b"retry-after: 1\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard one; returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connection_cap(configured: int, fd_limit: int) -> int:
    """``api.max_connections``, lowered so that the cap is reached before the fd limit."""
    return max(1, min(configured, fd_limit - FD_RESERVE))


def http_protocol(parser: str) -> type[Any]:
    """uvicorn's protocol class for ``parser``, importing only that one (h11 is not needed
    by the server and costs its start-up an import)."""
    if parser == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    if parser == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    raise ValueError(f"unknown HTTP parser {parser!r}: use 'httptools' or 'h11'")


def guarded_protocol(
    *, max_connections: int, header_timeout: float, parser: str = "httptools"
) -> type[HttpToolsProtocol] | type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol with the connection cap and the header deadline.

    ``parser``: "httptools" (llhttp, in C: the server's default) or "h11" (pure Python,
    kept for comparison by the benchmark). Both keep ``connections``, ``cycle``,
    ``transport`` and ``on_response_complete``, which is all that the guard uses.
    """
    base: type[Any] = http_protocol(parser)

    class GuardedProtocol(base):  # type: ignore[misc]
        _header_timer: asyncio.TimerHandle | None = None
        _busy = False

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._busy = len(self.connections) > max_connections
            self._arm_header_timer(BUSY_WAIT if self._busy else header_timeout)

        def data_received(self, data: bytes) -> None:
            if not self._busy:
                super().data_received(data)
            elif not self.transport.is_closing():
                # Answered once the request arrived: closing a socket with unread data
                # would reset it, and the client would never see the 503.
                self.transport.write(BUSY_RESPONSE)
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_timer(header_timeout)

        def _arm_header_timer(self, seconds: float) -> None:
            self._cancel_header_timer()
            self._header_timer = self.loop.call_later(seconds, self._header_deadline)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_deadline(self) -> None:
            """Close the connection unless a request (headers complete) is in progress."""
            self._header_timer = None
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and not self.transport.is_closing():
                self.transport.close()

    return GuardedProtocol


class AcceptErrorFilter(logging.Filter):
    """Lets asyncio's "accept() out of system resource" through once a minute, bare."""

    INTERVAL = 60.0

    def __init__(self) -> None:
        super().__init__()
        self._last = float("-inf")
        self._suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "out of system resource" not in record.getMessage():
            return True
        now = time.monotonic()
        if now - self._last < self.INTERVAL:
            self._suppressed += 1
            return False
        self._last = now
        note = f" ({self._suppressed} more since the last report)" if self._suppressed else ""
        self._suppressed = 0
        record.msg = f"cannot accept connections: out of file descriptors or memory{note}"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True
