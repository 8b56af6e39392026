"""The application factory: ``create_app(config, root)`` builds the whole server.

Tests and ``conductor`` (via ``server.serve``) both call it. Start-up (the lifespan)
serves at once and builds the index with one walk of the runs root in the background
(lists say ``partial`` until it is done; lookups by id read from disk meanwhile). Once
the index is complete the watcher starts, and with it the liveness sweep (adoption),
and the queue scheduler starts queued tasks; shutdown ends every event stream, then
stops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware

from conductor_loop import __version__
from conductor_loop.api.deps import validate_path_ids
from conductor_loop.api.errors import install_error_handlers
from conductor_loop.api.hub import Hub
from conductor_loop.api.metrics import Metrics
from conductor_loop.api.metrics_files import FLUSH_INTERVAL
from conductor_loop.api.middleware import (
    ApiKeyMiddleware,
    BodySizeLimitMiddleware,
    ConstantRoutesMiddleware,
    MessagePostMiddleware,
    PathGuardMiddleware,
    RequestContextMiddleware,
    RequestGuardMiddleware,
)
from conductor_loop.api.middleware.context import AccessLog
from conductor_loop.api.routes import health, messages, projects, runs, tasks, ui
from conductor_loop.api.services import (
    MessageService,
    ProjectService,
    RunService,
    Services,
)
from conductor_loop.api.sse import StreamContext, StreamSettings
from conductor_loop.api.tasks import TaskViews
from conductor_loop.api.watcher import RootWatcher
from conductor_loop.bus.group import IDLE_CLOSE_SECONDS
from conductor_loop.config.models import Config
from conductor_loop.orchestration.index import KEY_RUNS, KEY_TASKS, Index
from conductor_loop.orchestration.orchestrator import Orchestrator, loop_active
from conductor_loop.storage.layout import RunsRoot

log = logging.getLogger("conductor_loop.api")

PUBLIC_PATHS = (
    "/",
    "/api/v1/health",
    "/api/v1/version",
    "/metrics",
    "/ui",
    "/ui/*",
    "/docs",
    "/docs/*",
    "/openapi.json",
)


@dataclass(slots=True)
class AppSettings:
    """Server behaviour that is not user configuration (tests tune these)."""

    heartbeat_interval: float = 15.0
    rescan_interval: float = 10.0
    sweep_interval: float = 2.0
    first_run_timeout: float = 15.0
    conductor_url: str | None = None
    bound_host: str | None = None  # accepted in Host headers (with the localhost names)
    ui_dist: Path | None = None
    # Start-up waits this long for the index before serving: a small runs root is then
    # served complete from the first request; a big one is served partial at once.
    index_wait: float = 0.1
    # Tests: the index build waits until this file exists (a deterministic slow index).
    index_hold: Path | None = None
    # Several workers: where each publishes its metrics, and the server's start
    # (monotonic clock), so that /metrics and the status report the whole server.
    metrics_dir: Path | None = None
    started: float | None = None


def create_app(
    config: Config,
    root: RunsRoot,
    *,
    config_path: str | None = None,
    settings: AppSettings | None = None,
) -> FastAPI:
    settings = settings or AppSettings()
    api_key = config.api.resolve_api_key()
    metrics = Metrics(settings.metrics_dir, settings.started)
    access_lines = AccessLog()
    hub = Hub()
    index = Index(root, notify=hub.notify_threadsafe, loop_probe=loop_active)
    metrics.track_runs(index.status_counts)
    metrics.track_usage(index.usage_by_agent)
    orchestrator = Orchestrator(
        root,
        config,
        index,
        config_path=config_path,
        conductor_url=settings.conductor_url,
        first_run_timeout=settings.first_run_timeout,
        launched=metrics.tasks_launched,
    )
    svc = Services(
        root=root,
        config=config,
        index=index,
        hub=hub,
        metrics=metrics,
        orchestrator=orchestrator,
        tasks=TaskViews(root, config, index, orchestrator),
        runs=RunService(root, config, index, orchestrator),
        messages=MessageService(root, config, index, metrics),
        projects=ProjectService(root, index),
        streams=StreamContext(
            hub, index, metrics, StreamSettings(heartbeat_interval=settings.heartbeat_interval)
        ),
    )
    watcher = RootWatcher(
        index,
        rescan_interval=settings.rescan_interval,
        sweep_interval=settings.sweep_interval,
        sweep=orchestrator.sweep,
    )

    stopping = threading.Event()

    def build_index() -> None:
        """The start-up walk, then the watcher (its watches and its sweep need the whole
        index: adoption must see every running run, exactly once)."""
        try:
            hold = settings.index_hold
            while hold is not None and not hold.exists() and not stopping.wait(0.01):
                pass
            if stopping.is_set():
                return
            started = time.monotonic()
            if not index.build(stop=stopping):
                return
            log.info(
                "index complete: %d runs in %.2f s", index.run_count, time.monotonic() - started
            )
        except Exception:
            log.exception("building the index failed; relying on periodic rescans")
            index.ready.set()
        if not stopping.is_set():
            watcher.start()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        hub.bind(asyncio.get_running_loop())
        builder = threading.Thread(target=build_index, name="conductor-index", daemon=True)
        builder.start()
        await asyncio.to_thread(index.ready.wait, settings.index_wait)
        scheduler = asyncio.create_task(_schedule_queue(svc), name="conductor-queue")
        closer = asyncio.create_task(_close_idle_buses(svc), name="conductor-bus-files")
        background = [scheduler, closer]
        if metrics.shared_dir is not None:
            metrics.flush()  # counted among the workers at once
            background.append(asyncio.create_task(_publish_metrics(metrics), name="metrics"))
        try:
            yield
        finally:
            hub.close()
            stopping.set()
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            svc.messages.committers.close()
            await asyncio.to_thread(builder.join)
            metrics.flush()
            await asyncio.to_thread(watcher.stop)
            access_lines.flush()

    app = FastAPI(
        title="Conductor Loop",
        version=__version__,
        summary="Run AI coding agents in a restart loop; every run recorded on disk.",
        lifespan=lifespan,
        dependencies=[Depends(validate_path_ids)],
        redirect_slashes=False,
        # No OpenTelemetry: /metrics is ours, and the check costs every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = svc
    app.state.watcher = watcher
    install_error_handlers(app)
    for router in (health.router, tasks.router, runs.router, messages.router, projects.router):
        _add_routes(app, router)
    ui.mount_ui(app, settings.ui_dist)

    # Added innermost first: the request-id layer ends up outermost.
    app.add_middleware(MessagePostMiddleware, services=svc)
    app.add_middleware(
        ConstantRoutesMiddleware,
        answers={
            "/api/v1/health": {"status": "ok"},
            "/api/v1/version": {"name": "conductor-loop", "version": __version__},
        },
    )
    if api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=api_key, public_paths=PUBLIC_PATHS)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=config.api.max_body_bytes)
    if config.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.api.cors_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "X-API-Key",
                "Content-Type",
                "Last-Event-ID",
                "X-Request-ID",
            ],
            expose_headers=["X-Request-ID", "X-Conductor-Instance", "X-Conductor-Worker"],
            max_age=600,
        )
    app.add_middleware(
        RequestGuardMiddleware,
        allowed_hosts=_allowed_hosts(config, settings),
        allowed_origins=_allowed_origins(config),
    )
    app.add_middleware(PathGuardMiddleware)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, access=access_lines)
    return app


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """``app.include_router(router)``, but with the routes on the app's own router.

    FastAPI (0.165) keeps an included router as a wrapper that every request walks, at
    about twice the cost per route of the app's own routes. Re-adding each route as the
    old ``include_router`` did gives the same routes, dependencies and OpenAPI schema.
    """
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"unexpected route {route!r}")
        app.router.add_api_route(
            route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=route.tags,
            dependencies=route.dependencies,
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=route.responses,
            deprecated=route.deprecated,
            methods=route.methods,
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
        )


def _allowed_hosts(config: Config, settings: AppSettings) -> list[str]:
    hosts = list(config.api.allowed_hosts)
    if settings.bound_host and settings.bound_host not in ("0.0.0.0", "::"):
        hosts.append(settings.bound_host)
    if config.api.public_url and (public := urlsplit(config.api.public_url).hostname):
        hosts.append(public)
    return hosts


def _allowed_origins(config: Config) -> list[str]:
    origins = list(config.api.cors_origins)
    if config.api.public_url:
        origins.append(config.api.public_url)
    return origins


async def _close_idle_buses(svc: Services) -> None:
    """Close the bus files no post came to for a while (posts keep them open)."""
    while True:
        await asyncio.sleep(IDLE_CLOSE_SECONDS)
        svc.messages.committers.close_idle()


async def _schedule_queue(svc: Services) -> None:
    """Start queued tasks when something changed (a task finished, a run ended)."""
    with svc.hub.subscribe([KEY_TASKS, KEY_RUNS]) as sub:
        while not svc.hub.closed:
            await sub.wait(1.0)
            # Not before the index is complete: it counts the slots in use.
            if svc.index.complete and svc.index.queue():
                try:
                    await asyncio.to_thread(svc.orchestrator.schedule)
                except Exception:
                    log.exception("starting queued tasks failed")


async def _publish_metrics(metrics: Metrics) -> None:
    """Publish this worker's metrics for the others' scrapes, every flush interval."""
    while True:
        await asyncio.sleep(FLUSH_INTERVAL)
        metrics.flush()
