"""Health, version, server status and Prometheus metrics (health/version/metrics are public)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.responses import Response

from conductor_loop import __version__
from conductor_loop.api.deps import services
from conductor_loop.api.metrics import CONTENT_TYPE
from conductor_loop.api.models import Health, ServerStatus, Version
from conductor_loop.api.routes import api_router
from conductor_loop.api.services import Services

router = api_router()
Svc = Annotated[Services, Depends(services)]


@router.get("/api/v1/health", response_model=Health, tags=["server"])
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/api/v1/version", response_model=Version, tags=["server"])
async def version() -> dict[str, str]:
    return {"name": "conductor-loop", "version": __version__}


@router.get("/api/v1/status", response_model=ServerStatus, tags=["server"])
async def status(svc: Svc) -> dict[str, Any]:
    counts = svc.index.status_counts()
    running: dict[tuple[str, str], str | None] = {}
    for entry in svc.index.running_runs():
        key = (entry.info.project_id, entry.info.task_id)
        if not entry.info.parent_run_id or key not in running:
            running[key] = entry.info.run_id
    for task in svc.index.tasks():
        key = (task.project_id, task.task_id)
        if task.loop_active and key not in running:
            running[key] = None
    return {
        "status": "ok",
        "version": __version__,
        "uptime_seconds": round(svc.metrics.uptime_seconds, 3),
        "runs_dir": str(svc.root.path),
        "active_runs": counts.get("running", 0),
        "runs_by_status": counts,
        "agents": sorted(svc.config.agents),
        "default_agent": svc.config.defaults.agent,
        "running_tasks": [
            {"project_id": p, "task_id": t, "run_id": r} for (p, t), r in sorted(running.items())
        ],
        "queued_tasks": len(svc.index.queue()),
        "sse_clients": svc.metrics.sse_clients_now(),
        "partial": not svc.index.complete,
    }


@router.get(
    "/metrics",
    tags=["server"],
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(svc: Svc) -> Response:
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE)
