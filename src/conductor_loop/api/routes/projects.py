"""Project-centric routes used by the web UI: projects → tasks → runs, files, buses."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from conductor_loop.api.deps import (
    JSON,
    index_complete,
    index_partial,
    partial_headers,
    services,
    sse_response,
)
from conductor_loop.api.models import (
    ERROR_RESPONSES,
    SSE_RESPONSES,
    MessageList,
    MessageOut,
    MessagePost,
    ProjectList,
    ProjectStats,
    ProjectSummary,
    RunDetail,
    RunFile,
    RunList,
    StopAccepted,
    TaskAction,
    TaskCreated,
    TaskDetail,
    TaskFile,
    TaskList,
)
from conductor_loop.api.routes import api_router
from conductor_loop.api.routes.messages import (
    AfterParam,
    BeforeParam,
    TailParam,
    post_message,
    read_messages,
    stream_messages,
)
from conductor_loop.api.services import DEFAULT_FILE_LIMIT, Services
from conductor_loop.api.sse import STREAM_FILES, run_stream

router = api_router(tags=["projects"], responses=ERROR_RESPONSES)
Svc = Annotated[Services, Depends(services)]
Partial = Annotated[bool, Depends(index_partial)]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=200)]
TaskStatus = Literal["queued", "running", "completed", "failed", "stopped", "idle"]
RunStatus = Literal["running", "completed", "failed", "stopped"]
RunFileName = Literal["output.md", "output", "stdout", "stderr", "prompt", "prompt.md"]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Limit = Annotated[int | None, Query(ge=1, le=100_000)]

P = "/api/projects/{project_id}"
T = P + "/tasks/{task_id}"
R = T + "/runs/{run_id}"


@router.get("/api/projects", response_model=ProjectList)
async def list_projects(svc: Svc, partial: Partial) -> dict[str, Any]:
    return {"projects": svc.projects.list_projects(), "partial": partial}


@router.get(P, response_model=ProjectSummary)
async def get_project(svc: Svc, project_id: str) -> dict[str, Any]:
    return svc.projects.get(project_id)


@router.get(P + "/stats", response_model=ProjectStats)
def project_stats(svc: Svc, project_id: str) -> dict[str, Any]:
    return svc.projects.stats(project_id)


@router.get(P + "/tasks", response_model=TaskList)
async def project_tasks(
    svc: Svc,
    partial: Partial,
    project_id: str,
    status: TaskStatus | None = None,
    offset: Offset = 0,
    limit: Limit = None,
) -> dict[str, Any]:
    svc.projects.get(project_id)
    listed = svc.tasks.list_tasks(project_id=project_id, status=status, offset=offset, limit=limit)
    return listed | {"partial": partial}


@router.get(T, response_model=TaskDetail)
async def get_task(svc: Svc, project_id: str, task_id: str) -> dict[str, Any]:
    return svc.tasks.detail(svc.tasks.get(project_id, task_id))


@router.delete(T, response_model=TaskAction)
def delete_task(svc: Svc, project_id: str, task_id: str) -> dict[str, Any]:
    """Delete the task directory with all its runs (409 while it runs)."""
    return asdict(svc.orchestrator.delete(svc.tasks.get(project_id, task_id)))


@router.post(T + "/stop", status_code=202, response_model=TaskAction)
def stop_task(svc: Svc, project_id: str, task_id: str) -> dict[str, Any]:
    return asdict(svc.orchestrator.stop(svc.tasks.get(project_id, task_id)))


@router.post(
    T + "/resume",
    status_code=202,
    response_model=TaskCreated,
    dependencies=[Depends(index_complete)],
)
async def resume_task(svc: Svc, project_id: str, task_id: str) -> dict[str, Any]:
    """Remove DONE and start the loop again (or queue it)."""
    task = svc.tasks.get(project_id, task_id)
    return asdict(await run_in_threadpool(svc.orchestrator.resume, task))


@router.get(T + "/file", response_model=TaskFile)
def task_file(
    svc: Svc,
    project_id: str,
    task_id: str,
    name: Literal["TASK.md", "TASK_STATE.md"] = "TASK.md",
) -> dict[str, Any]:
    return svc.tasks.read_file(svc.tasks.get(project_id, task_id), name)


@router.get(T + "/runs", response_model=RunList)
async def task_runs(
    svc: Svc,
    partial: Partial,
    project_id: str,
    task_id: str,
    status: RunStatus | None = None,
    offset: Offset = 0,
    limit: Limit = None,
) -> Response:
    svc.tasks.get(project_id, task_id)
    body = svc.runs.list_json(
        project_id=project_id,
        task_id=task_id,
        status=status,
        agent=None,
        parent_run_id=None,
        offset=offset,
        limit=limit,
        partial=partial,
    )
    return Response(body, media_type=JSON, headers=partial_headers(partial))


@router.get(R, response_model=RunDetail)
async def get_run(svc: Svc, project_id: str, task_id: str, run_id: str) -> dict[str, Any]:
    return svc.runs.detail(svc.runs.get(run_id, project_id, task_id))


@router.delete(R, response_model=StopAccepted)
def delete_run(svc: Svc, project_id: str, task_id: str, run_id: str) -> dict[str, Any]:
    """Delete a finished run's directory (409 while it runs)."""
    return svc.runs.delete(svc.runs.get(run_id, project_id, task_id))


@router.post(R + "/stop", status_code=202, response_model=StopAccepted)
def stop_run(svc: Svc, project_id: str, task_id: str, run_id: str) -> dict[str, Any]:
    return svc.runs.stop(svc.runs.get(run_id, project_id, task_id))


@router.get(R + "/file", response_model=RunFile)
def run_file(
    svc: Svc,
    project_id: str,
    task_id: str,
    run_id: str,
    name: RunFileName = "output.md",
    offset: Annotated[int | None, Query(ge=0, le=1 << 50)] = None,
    limit: Annotated[int, Query(ge=1, le=16 * DEFAULT_FILE_LIMIT)] = DEFAULT_FILE_LIMIT,
) -> dict[str, Any]:
    """A run file; by default its last ``limit`` bytes, or ``limit`` bytes from ``offset``."""
    entry = svc.runs.get(run_id, project_id, task_id)
    return svc.runs.read_file(entry, name, offset=offset, limit=limit)


@router.get(R + "/stream", response_class=StreamingResponse, responses=SSE_RESPONSES)
async def stream_run(
    svc: Svc,
    project_id: str,
    task_id: str,
    run_id: str,
    streams: Annotated[str, Query(pattern=r"^(stdout|stderr)(,(stdout|stderr))?$")] = (
        "stdout,stderr"
    ),
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    svc.runs.get(run_id, project_id, task_id)
    wanted = [s for s in streams.split(",") if s in STREAM_FILES]
    return sse_response(run_stream(svc.streams, run_id, wanted, last_event_id))


@router.get(P + "/messages", response_model=MessageList)
def project_messages(
    svc: Svc,
    project_id: str,
    after: AfterParam = None,
    tail: TailParam = None,
    before: BeforeParam = None,
) -> dict[str, Any]:
    return read_messages(svc, project_id, None, after, tail, before)


@router.post(P + "/messages", status_code=201, response_model=MessageOut)
async def post_project_message(svc: Svc, project_id: str, body: MessagePost) -> dict[str, Any]:
    return await post_message(svc, body, project_id, None)


@router.get(P + "/messages/stream", response_class=StreamingResponse, responses=SSE_RESPONSES)
async def stream_project_messages(
    svc: Svc,
    project_id: str,
    after: AfterParam = None,
    tail: TailParam = None,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    return stream_messages(svc, project_id, None, last_event_id, after, tail)


@router.get(T + "/messages", response_model=MessageList)
def task_messages(
    svc: Svc,
    project_id: str,
    task_id: str,
    after: AfterParam = None,
    tail: TailParam = None,
    before: BeforeParam = None,
) -> dict[str, Any]:
    return read_messages(svc, project_id, task_id, after, tail, before)


@router.post(T + "/messages", status_code=201, response_model=MessageOut)
async def post_task_message(
    svc: Svc, project_id: str, task_id: str, body: MessagePost
) -> dict[str, Any]:
    return await post_message(svc, body, project_id, task_id)


@router.get(T + "/messages/stream", response_class=StreamingResponse, responses=SSE_RESPONSES)
async def stream_task_messages(
    svc: Svc,
    project_id: str,
    task_id: str,
    after: AfterParam = None,
    tail: TailParam = None,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    return stream_messages(svc, project_id, task_id, last_event_id, after, tail)
