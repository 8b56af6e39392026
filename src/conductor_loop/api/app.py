"""The application: ``build_app`` makes the routes and services, ``create_app`` puts them
behind the front layers (``front``) as one FastAPI app (tests use it). ``conductor``
(``server.serve``) instead builds the app in the background behind a front that serves
from the first request (``startup``).

Start-up (the lifespan) serves at once and builds the index with one walk of the runs
root in the background (lists say ``partial`` until it is done; lookups by id read from
disk meanwhile). Once the index is complete the watcher starts, and with it the liveness
sweep (adoption), and the queue scheduler starts queued tasks; shutdown ends every event
stream, then stops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute

from conductor_loop import __version__
from conductor_loop.api.deps import validate_path_ids
from conductor_loop.api.errors import install_error_handlers
from conductor_loop.api.front import front_layers
from conductor_loop.api.hub import Hub
from conductor_loop.api.memory import release_free_memory
from conductor_loop.api.metrics import Metrics
from conductor_loop.api.metrics_files import FLUSH_INTERVAL
from conductor_loop.api.middleware.context import AccessLog, RequestTally
from conductor_loop.api.middleware.message_post import MessagePostMiddleware
from conductor_loop.api.routes import health, messages, projects, runs, tasks, ui
from conductor_loop.api.services import (
    MessageService,
    ProjectService,
    RunService,
    Services,
)
from conductor_loop.api.settings import AppSettings
from conductor_loop.api.sse import StreamContext, StreamSettings
from conductor_loop.api.tasks import TaskViews
from conductor_loop.api.watcher import RootWatcher
from conductor_loop.bus.group import IDLE_CLOSE_SECONDS
from conductor_loop.config.models import Config
from conductor_loop.orchestration.index import KEY_RUNS, KEY_TASKS, Index
from conductor_loop.orchestration.orchestrator import Orchestrator, loop_active
from conductor_loop.storage.layout import RunsRoot

__all__ = ["AppSettings", "build_app", "create_app"]

log = logging.getLogger("conductor_loop.api")


def create_app(
    config: Config,
    root: RunsRoot,
    *,
    config_path: str | None = None,
    settings: AppSettings | None = None,
) -> FastAPI:
    """The whole server as one FastAPI app: the routes inside the front layers."""
    settings = settings or AppSettings()
    requests: RequestTally = {}
    access = AccessLog()
    app = build_app(
        config, root, config_path=config_path, settings=settings, requests=requests, access=access
    )
    for cls, options in front_layers(config, settings, requests, access):
        app.add_middleware(cls, **options)  # type: ignore[arg-type]
    return app


def build_app(
    config: Config,
    root: RunsRoot,
    *,
    config_path: str | None,
    settings: AppSettings,
    requests: RequestTally,
    access: AccessLog,
) -> FastAPI:
    """The routes and the services behind them, without the front layers (``front``):
    the server puts this app behind a front that serves while it is built."""
    metrics = Metrics(settings.metrics_dir, settings.started, requests)
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
    if orchestrator.executor.name == "ray":
        metrics.track_cluster(orchestrator.executor.cluster_slots)
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
            release_free_memory()  # what parsing the runs left in this thread's arena
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
            access.flush()

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

    # Message posts are answered ahead of FastAPI's routing (inside the front layers).
    app.add_middleware(MessagePostMiddleware, services=svc)
    return app


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """``app.include_router(router)``, but with the router's routes on the app's own router.

    FastAPI (0.165) keeps an included router as a wrapper that every request walks, at
    about twice the cost per route of the app's own routes. The routes are taken as they
    are, not declared again on the app (which would keep a second copy of each route's
    models and dependency analysis, ~1.5 MB): so each must check its path ids itself, as
    ``routes.api_router`` makes it.
    """
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"unexpected route {route!r}")
        if not any(d.dependency is validate_path_ids for d in route.dependencies):
            raise TypeError(f"route {route.path} does not check its path ids")
    app.router.routes.extend(router.routes)


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
