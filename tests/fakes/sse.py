"""HTTP plumbing shared by the fake model servers: a threaded server that a test can
stop while handlers still stream, and a handler base that writes JSON and chunked SSE."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class StoppableServer(ThreadingHTTPServer):
    """Daemon handler threads; ``fake`` is the test-facing object that scripts the replies."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, fake: Any) -> None:
        super().__init__(address, handler)
        self.fake = fake

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (cancel, retry) is expected here, not worth a traceback."""


class BackgroundServer:
    """A fake server's life: serving on 127.0.0.1 at a free port in a background thread,
    until ``close`` (or the end of a ``with``). ``stopping`` tells streaming handlers to
    give up; ``_lock`` guards what subclasses record."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.stopping = threading.Event()
        self._lock = threading.Condition()
        self._httpd = StoppableServer(("127.0.0.1", 0), handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._closed = False

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SseHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; bodies are JSON, streams are chunked ``text/event-stream``."""

    protocol_version = "HTTP/1.1"
    server: StoppableServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def read_json_body(self) -> Any:
        """The request's JSON body (None when empty or not JSON); also kept in ``raw_body``."""
        length = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(length) if length else b""
        try:
            return json.loads(self.raw_body) if self.raw_body else None
        except ValueError:
            return None

    def send_json(
        self,
        status: int,
        payload: dict[str, Any],
        extra: dict[str, str] | None = None,
        head_only: bool = False,
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head_only:
            self.wfile.write(data)

    def start_sse(self, content_type: str = "text/event-stream") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def event(self, name: str | None, payload: Any, *, multiline: bool = False) -> None:
        """One SSE event (``event:`` line only when named), as one HTTP chunk. With
        ``multiline`` the JSON is indented and sent as one ``data:`` line per line of it,
        which the SSE format allows (a client joins them with newlines)."""
        head = f"event: {name}\n" if name else ""
        text = json.dumps(payload, indent=1) if multiline else json.dumps(payload)
        data = "".join(f"data: {line}\n" for line in text.split("\n"))
        self.write_chunk(f"{head}{data}\n".encode())

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def end_chunks(self) -> None:
        self.write_chunk(b"")

    def drop(self) -> None:
        """Close the socket mid-body, as a failing proxy or server would."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
