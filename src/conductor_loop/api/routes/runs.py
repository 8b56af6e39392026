"""Runs: flat list, summary, raw run-info, stop, and the output/status event streams."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Query
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from conductor_loop.api.deps import JSON, index_partial, partial_headers, services, sse_response
from conductor_loop.api.models import (
    ERROR_RESPONSES,
    SSE_RESPONSES,
    ErrorBody,
    RunDetail,
    RunList,
    StopAccepted,
)
from conductor_loop.api.routes import api_router
from conductor_loop.api.services import Services
from conductor_loop.api.sse import STREAM_FILES, all_runs_stream, run_stream

router = api_router(tags=["runs"], responses=ERROR_RESPONSES)
Svc = Annotated[Services, Depends(services)]
Partial = Annotated[bool, Depends(index_partial)]
RunStatus = Literal["running", "completed", "failed", "stopped"]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=200)]
Streams = Annotated[
    str,
    Query(
        pattern=r"^(stdout|stderr)(,(stdout|stderr))?$",
        description="comma-separated: stdout, stderr",
    ),
]


@router.get("/api/v1/runs", response_model=RunList)
async def list_runs(
    svc: Svc,
    partial: Partial,
    project_id: Annotated[str | None, Query(max_length=128)] = None,
    task_id: Annotated[str | None, Query(max_length=128)] = None,
    status: RunStatus | None = None,
    agent: Annotated[str | None, Query(max_length=64)] = None,
    parent_run_id: Annotated[str | None, Query(max_length=128)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> Response:
    """Runs, newest first. Without ``limit`` the whole (filtered) list is returned.
    ``partial``: the server is still indexing the runs root (just started)."""
    body = svc.runs.list_json(
        project_id=project_id,
        task_id=task_id,
        status=status,
        agent=agent,
        parent_run_id=parent_run_id,
        offset=offset,
        limit=limit,
        partial=partial,
    )
    return Response(body, media_type=JSON, headers=partial_headers(partial))


@router.get("/api/v1/runs/stream/all", response_class=StreamingResponse, responses=SSE_RESPONSES)
async def stream_all_runs(svc: Svc, last_event_id: LastEventId = None) -> StreamingResponse:
    """``status`` events for every run that starts, changes or ends (running runs first)."""
    return sse_response(all_runs_stream(svc.streams, last_event_id))


@router.get("/api/v1/runs/{run_id}", response_model=RunDetail)
async def get_run(svc: Svc, run_id: str) -> Response:
    # Rendered directly (the hottest lookup); RunDetail documents the shape.
    return Response(json.dumps(svc.runs.detail(svc.runs.get(run_id))), media_type=JSON)


@router.get(
    "/api/v1/runs/{run_id}/info",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "run-info.yaml as stored (a YAML mapping)",
            "content": {"application/yaml": {"schema": {"type": "object"}}},
        },
        **{
            status: {
                **spec,
                "content": {"application/json": {"schema": ErrorBody.model_json_schema()}},
            }
            for status, spec in ERROR_RESPONSES.items()
        },
    },
)
def get_run_info(svc: Svc, run_id: str) -> PlainTextResponse:
    """run-info.yaml exactly as it is on disk."""
    text = svc.runs.raw_info(svc.runs.get(run_id))
    return PlainTextResponse(text, media_type="application/yaml")


@router.post("/api/v1/runs/{run_id}/stop", status_code=202, response_model=StopAccepted)
def stop_run(svc: Svc, run_id: str) -> dict[str, Any]:
    return svc.runs.stop(svc.runs.get(run_id))


@router.get(
    "/api/v1/runs/{run_id}/stream", response_class=StreamingResponse, responses=SSE_RESPONSES
)
async def stream_run(
    svc: Svc,
    run_id: str,
    streams: Streams = "stdout,stderr",
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """``log`` events (one per output line), ``status``, ``heartbeat`` and a final ``done``."""
    svc.runs.get(run_id)
    wanted = [s for s in streams.split(",") if s in STREAM_FILES]
    return sse_response(run_stream(svc.streams, run_id, wanted, last_event_id))
