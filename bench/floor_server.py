"""The floor for the HTTP benchmark: an empty ASGI app on the server's own stack.

``python -m bench.floor_server --workers N [--parser h11] [--loop asyncio]`` serves the
same way ``conductor`` does (``api.server.bind_socket``, the guarded uvicorn protocol,
the chosen event loop, ``api.workers.supervise`` for N > 1), but every request gets
``{"status":"ok"}`` once its body is read. What our app costs is the gap to this. Like
ours, each worker names itself in ``X-Conductor-Worker`` (its pid), so that a benchmark
can wait for all of them.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from typing import Any

BODY = b'{"status":"ok"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"15")]
START: dict[str, Any] = {"type": "http.response.start", "status": 200, "headers": HEADERS}


async def empty_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # in the worker, after the fork: its own pid
                START["headers"] = [*HEADERS, (b"x-conductor-worker", str(os.getpid()).encode())]
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send(START)
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    import uvicorn

    from conductor_loop.api.connections import guarded_protocol
    from conductor_loop.api.server import bind_socket
    from conductor_loop.api.workers import supervise

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--parser", default="httptools", choices=("httptools", "h11"))
    parser.add_argument("--loop", default="uvloop", choices=("uvloop", "asyncio"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sock = bind_socket("127.0.0.1", args.port)

    def run(announce: bool) -> None:
        class Server(uvicorn.Server):
            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                await super().startup(sockets)
                if announce:
                    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)

        config = uvicorn.Config(
            empty_app,
            http=guarded_protocol(max_connections=1000, header_timeout=10, parser=args.parser),
            loop=args.loop,
            lifespan="on",
            access_log=False,
            log_config=None,
            log_level="warning",
        )
        Server(config).run(sockets=[sock])

    if args.workers == 1:
        run(True)
    else:
        sys.exit(supervise(args.workers, run))


if __name__ == "__main__":
    main()
