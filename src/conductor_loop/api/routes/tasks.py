"""Tasks (core API): list, create-and-start, show, stop."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from starlette.concurrency import run_in_threadpool

from conductor_loop.api.deps import index_complete, index_partial, services
from conductor_loop.api.models import (
    ERROR_RESPONSES,
    ErrorBody,
    TaskAction,
    TaskCreate,
    TaskCreated,
    TaskDetail,
    TaskList,
)
from conductor_loop.api.routes import api_router
from conductor_loop.api.services import Services
from conductor_loop.orchestration.orchestrator import TaskRequest

router = api_router(tags=["tasks"], responses=ERROR_RESPONSES)
Svc = Annotated[Services, Depends(services)]
Partial = Annotated[bool, Depends(index_partial)]
TaskStatus = Literal["queued", "running", "completed", "failed", "stopped", "idle"]
ProjectQuery = Annotated[
    str | None, Query(max_length=128, description="needed when the task id is not unique")
]


@router.get("/api/v1/tasks", response_model=TaskList)
async def list_tasks(
    svc: Svc,
    partial: Partial,
    project_id: Annotated[str | None, Query(max_length=128)] = None,
    status: TaskStatus | None = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> dict[str, Any]:
    listed = svc.tasks.list_tasks(project_id=project_id, status=status, offset=offset, limit=limit)
    return listed | {"partial": partial}


@router.post(
    "/api/v1/tasks",
    status_code=201,
    response_model=TaskCreated,
    responses={409: {"model": ErrorBody, "description": "The task already exists"}},
    dependencies=[Depends(index_complete)],
)
async def create_task(svc: Svc, request: TaskCreate) -> dict[str, Any]:
    """Create TASK.md and start ``run-agent task`` (or queue it: ``status`` = ``queued``).

    Returns once the loop's first run exists, with its ``run_id``.
    """
    started = await run_in_threadpool(svc.orchestrator.create, task_request(request))
    return asdict(started)


@router.get("/api/v1/tasks/{task_id}", response_model=TaskDetail)
async def get_task(svc: Svc, task_id: str, project_id: ProjectQuery = None) -> dict[str, Any]:
    return svc.tasks.detail(svc.tasks.resolve(task_id, project_id))


@router.delete("/api/v1/tasks/{task_id}", status_code=202, response_model=TaskAction)
def stop_task(svc: Svc, task_id: str, project_id: ProjectQuery = None) -> dict[str, Any]:
    """Stop the task: its loop does not restart, its running runs are stopped."""
    return asdict(svc.orchestrator.stop(svc.tasks.resolve(task_id, project_id)))


def task_request(body: TaskCreate) -> TaskRequest:
    """The request body as orchestration takes it."""
    return TaskRequest(
        project_id=body.project_id,
        prompt=body.prompt,
        task_id=body.task_id,
        agent=body.agent_type,
        depends_on=tuple(body.depends_on),
        max_restarts=body.max_restarts,
        restart_delay=body.restart_delay,
        timeout=body.timeout,
        cwd=body.cwd,
        max_cost_usd=body.max_cost_usd,
        max_tokens=body.max_tokens,
        budget_action=body.budget_action,
    )
