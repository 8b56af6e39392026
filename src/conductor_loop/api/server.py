"""Running the API server: bind, log one start-up line, serve, stop cleanly on SIGTERM."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from conductor_loop import __version__
from conductor_loop.config.models import Config, Secret
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.state import check_outside_root, resolve_state_dir

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from conductor_loop.api.access import ServerAccess
    from conductor_loop.api.settings import AppSettings

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


def worker_count(configured: int, cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """``api.workers``, with 0 meaning one worker per CPU core this process may use: the
    cores it may run on, fewer under a cgroup CPU quota (``docker run --cpus``)."""
    if configured > 0:
        return configured
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text(encoding="ascii").split()[:2]
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def event_loop_name() -> str:
    """uvloop when installed (a dependency; about 1.5x asyncio's requests/s), else asyncio."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def serve(
    config: Config,
    root: RunsRoot,
    *,
    config_path: str | None = None,
    state_dir: Path | None = None,
    workers: int | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT: in this process, or in ``workers`` forked processes.

    The socket is bound and the API key resolved (generated at most once) before any
    worker starts, so every worker accepts on the same port with the same key. Each
    worker builds its own app: its own index (fed by its own watcher), SSE hub and queue
    scheduler. They coordinate only through the runs root, as replicas do.
    """
    from conductor_loop.api.access import base_url, resolve_access
    from conductor_loop.api.connections import AcceptErrorFilter
    from conductor_loop.api.settings import AppSettings

    configure_logging()
    logging.getLogger("asyncio").addFilter(AcceptErrorFilter())
    # Background threads (watcher, rescan, sweep) hand the GIL back to the event loop
    # within 1 ms instead of the default 5 ms: shorter tail latency for requests.
    sys.setswitchinterval(0.001)
    state_dir = state_dir or resolve_state_dir(config.storage.state_dir)
    check_outside_root(state_dir, root.path)
    api = config.api
    count = worker_count(api.workers if workers is None else workers)
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
    settings = AppSettings(conductor_url=url, bound_host=bound_host, started=time.monotonic())
    heartbeat = os.environ.get("CONDUCTOR_SSE_HEARTBEAT")
    if heartbeat:
        settings.heartbeat_interval = float(heartbeat)
    index_hold = os.environ.get("CONDUCTOR_TEST_INDEX_HOLD")
    if index_hold:
        settings.index_hold = Path(index_hold)
    app_hold = os.environ.get("CONDUCTOR_TEST_APP_HOLD")
    if app_hold:
        settings.app_hold = Path(app_hold)

    def run(announce: bool) -> None:
        _run_worker(config, root, config_path, settings, sock, access, url, announce, count)

    if count == 1:
        run(True)
    else:
        from conductor_loop.api import metrics_files
        from conductor_loop.api.workers import supervise

        settings.metrics_dir = metrics_files.create_dir()
        metrics_dir = settings.metrics_dir
        try:
            status = supervise(count, run, lambda pid: metrics_files.retire(metrics_dir, pid))
        finally:
            metrics_files.remove_dir(metrics_dir)
        sock.close()
        if status:
            log.error("conductor stopped: a worker failed")
            raise SystemExit(status)
    log.info("conductor stopped")


def _run_worker(
    config: Config,
    root: RunsRoot,
    config_path: str | None,
    settings: AppSettings,
    sock: socket.socket,
    access: ServerAccess,
    url: str,
    announce: bool,
    workers: int,
) -> None:
    """One server process: serve ``sock`` until told to stop.

    It listens at once, behind the front (guards, health), and builds the app in the
    background (``startup``): FastAPI is imported there, not before the first request.
    """
    import uvicorn

    from conductor_loop.api.access import login_url
    from conductor_loop.api.connections import connection_cap, guarded_protocol, raise_fd_limit
    from conductor_loop.api.front import front_layers
    from conductor_loop.api.middleware.context import AccessLog, RequestTally
    from conductor_loop.api.startup import StartupApp

    requests: RequestTally = {}
    access_lines = AccessLog()

    def build() -> Starlette:
        from conductor_loop.api.app import build_app

        app = build_app(
            config,
            root,
            config_path=config_path,
            settings=settings,
            requests=requests,
            access=access_lines,
        )
        app.middleware_stack = app.build_middleware_stack()  # now, not at the first request
        return app

    startup = StartupApp(
        build, front_layers(config, settings, requests, access_lines), hold=settings.app_hold
    )
    api = config.api
    max_connections = connection_cap(api.max_connections, raise_fd_limit())
    bound_host, bound_port = sock.getsockname()[:2]

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.should_exit or not announce:
                return
            # How to get in first: whoever waits for the "listening" line finds it logged.
            _report_access(access, url, login_url)
            log.info(
                "conductor %s listening on http://%s:%d, runs dir %s%s",
                __version__,
                bound_host,
                bound_port,
                root.path,
                f", {workers} workers" if workers > 1 else "",
            )

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if startup.app is not None:  # end event streams now, not after the grace period
                startup.app.state.services.hub.close_threadsafe()
            startup.handle_exit()
            super().handle_exit(sig, frame)
            # uvicorn re-raises captured signals after shutdown; a SIGTERM that led to a
            # clean shutdown should end the process with status 0 instead.
            captured = getattr(self, "_captured_signals", None)
            if sig == signal.SIGTERM and isinstance(captured, list) and sig in captured:
                captured.remove(sig)

    uv_config = uvicorn.Config(
        startup,
        http=guarded_protocol(max_connections=max_connections, header_timeout=api.header_timeout),
        loop=event_loop_name(),
        lifespan="on",
        access_log=False,
        log_config=None,
        log_level="warning",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_keep_alive=max(1, round(api.keepalive_timeout)),
    )
    server = Server(uv_config)

    def stop_server() -> None:
        server.should_exit = True

    startup.on_failure = stop_server
    server.run(sockets=[sock])
    if startup.failed:
        raise SystemExit(1)


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
