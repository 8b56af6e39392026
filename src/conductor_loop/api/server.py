"""Running the API server: bind, log one start-up line, serve, stop cleanly on SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from types import FrameType

from conductor_loop import __version__
from conductor_loop.config.models import Config
from conductor_loop.storage.layout import RunsRoot

log = logging.getLogger("conductor_loop.api")

# How long open connections (event streams end at once) may take to finish on SIGTERM.
GRACEFUL_SHUTDOWN_SECONDS = 3


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    package = logging.getLogger("conductor_loop")
    package.handlers[:] = [handler]
    package.setLevel(level)
    package.propagate = False
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = [handler]
        logging.getLogger(name).setLevel(logging.WARNING)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only disables Nagle (TCP_NODELAY) on such sockets.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def serve(config: Config, root: RunsRoot, *, config_path: str | None = None) -> None:
    import uvicorn

    from conductor_loop.api.app import AppSettings, create_app

    configure_logging()
    # Background threads (watcher, rescan, sweep) hand the GIL back to the event loop
    # within 1 ms instead of the default 5 ms: shorter tail latency for requests.
    sys.setswitchinterval(0.001)
    host, port = config.api.host, config.api.port
    sock = bind_socket(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    local_host = "127.0.0.1" if bound_host in ("0.0.0.0", "::") else bound_host
    settings = AppSettings(
        conductor_url=config.api.public_url or f"http://{local_host}:{bound_port}",
    )
    heartbeat = os.environ.get("CONDUCTOR_SSE_HEARTBEAT")
    if heartbeat:
        settings.heartbeat_interval = float(heartbeat)
    app = create_app(config, root, config_path=config_path, settings=settings)
    hub = app.state.services.hub

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.should_exit:
                log.info(
                    "conductor %s listening on http://%s:%d, runs dir %s",
                    __version__,
                    bound_host,
                    bound_port,
                    root.path,
                )

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            hub.close_threadsafe()  # end event streams now, not after the grace period
            super().handle_exit(sig, frame)
            # uvicorn re-raises captured signals after shutdown; a SIGTERM that led to a
            # clean shutdown should end the process with status 0 instead.
            captured = getattr(self, "_captured_signals", None)
            if sig == signal.SIGTERM and isinstance(captured, list) and sig in captured:
                captured.remove(sig)

    uv_config = uvicorn.Config(
        app,
        lifespan="on",
        access_log=False,
        log_config=None,
        log_level="warning",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_keep_alive=5,
    )
    Server(uv_config).run(sockets=[sock])
    log.info("conductor stopped")
