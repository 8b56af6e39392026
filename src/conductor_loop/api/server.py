"""Running the API server: bind, log one start-up line, serve, stop cleanly on SIGTERM."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from conductor_loop import __version__
from conductor_loop.config.models import Config, Secret
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.state import check_outside_root, resolve_state_dir

if TYPE_CHECKING:
    from conductor_loop.api.access import ServerAccess

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


def serve(
    config: Config,
    root: RunsRoot,
    *,
    config_path: str | None = None,
    state_dir: Path | None = None,
) -> None:
    import uvicorn

    from conductor_loop.api.access import base_url, login_url, resolve_access
    from conductor_loop.api.app import AppSettings, create_app
    from conductor_loop.api.connections import (
        AcceptErrorFilter,
        connection_cap,
        guarded_protocol,
        raise_fd_limit,
    )

    configure_logging()
    logging.getLogger("asyncio").addFilter(AcceptErrorFilter())
    # Background threads (watcher, rescan, sweep) hand the GIL back to the event loop
    # within 1 ms instead of the default 5 ms: shorter tail latency for requests.
    sys.setswitchinterval(0.001)
    state_dir = state_dir or resolve_state_dir(config.storage.state_dir)
    check_outside_root(state_dir, root.path)
    api = config.api
    sock = bind_socket(api.host, api.port)
    bound_host, bound_port = sock.getsockname()[:2]
    try:
        access = resolve_access(api, bound_host, state_dir)
    except BaseException:
        sock.close()
        raise
    url = base_url(api, bound_host, bound_port)
    if access.api_key and access.source == "generated":
        config.api = dataclasses.replace(api, api_key=Secret(access.api_key))
    settings = AppSettings(conductor_url=url, bound_host=bound_host)
    heartbeat = os.environ.get("CONDUCTOR_SSE_HEARTBEAT")
    if heartbeat:
        settings.heartbeat_interval = float(heartbeat)
    index_hold = os.environ.get("CONDUCTOR_TEST_INDEX_HOLD")
    if index_hold:
        settings.index_hold = Path(index_hold)
    app = create_app(config, root, config_path=config_path, settings=settings)
    hub = app.state.services.hub
    max_connections = connection_cap(api.max_connections, raise_fd_limit())

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.should_exit:
                return
            log.info(
                "conductor %s listening on http://%s:%d, runs dir %s",
                __version__,
                bound_host,
                bound_port,
                root.path,
            )
            _report_access(access, url, login_url)

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
        http=guarded_protocol(max_connections=max_connections, header_timeout=api.header_timeout),
        lifespan="on",
        access_log=False,
        log_config=None,
        log_level="warning",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_keep_alive=max(1, round(api.keepalive_timeout)),
    )
    Server(uv_config).run(sockets=[sock])
    log.info("conductor stopped")


def _report_access(access: ServerAccess, url: str, login_url: Callable[[str, str], str]) -> None:
    """Say once per start how to get in; the generated key itself only when it is new."""
    if access.source == "insecure":
        log.warning(
            "NO API KEY (--insecure): anyone who can reach %s can start agents that run as "
            "this user; bind to 127.0.0.1 or drop --insecure to require a key",
            url,
        )
    elif access.source == "generated" and access.created and access.api_key:
        log.warning(
            "generated an API key, stored in %s; open the UI with %s "
            "(`conductor key` shows it again)",
            access.key_file,
            login_url(url, access.api_key),
        )
    elif access.source == "generated":
        log.info(
            "API key required: it is in %s (`conductor key` prints the login URL)",
            access.key_file,
        )
    elif access.source == "config":
        log.info("API key required (from the configuration)")
