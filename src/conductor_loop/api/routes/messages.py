"""The message bus: read, post and stream, at project or task scope."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Header, Query
from starlette.responses import StreamingResponse

from conductor_loop.api.deps import services, sse_response
from conductor_loop.api.models import (
    ERROR_RESPONSES,
    SSE_RESPONSES,
    MessageList,
    MessageOut,
    MessagePost,
)
from conductor_loop.api.routes import api_router
from conductor_loop.api.services import Services
from conductor_loop.api.sse import message_stream
from conductor_loop.bus.message import Message
from conductor_loop.errors import InvalidRequestError
from conductor_loop.storage.ids import validate_id

router = api_router(tags=["messages"], responses=ERROR_RESPONSES)
Svc = Annotated[Services, Depends(services)]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=200)]
ProjectParam = Annotated[str, Query(min_length=1, max_length=128)]
TaskParam = Annotated[str | None, Query(min_length=1, max_length=128)]
AfterParam = Annotated[
    str | None, Query(max_length=200, description="only messages after this msg_id")
]
TailParam = Annotated[int | None, Query(ge=1, le=100_000, description="only the last N")]
BeforeParam = Annotated[
    str | None,
    Query(
        max_length=200,
        description="only messages before this msg_id (the last `tail` of them, default 100)",
    ),
]


def _scope(project_id: str, task_id: str | None) -> tuple[str, str | None]:
    validate_id(project_id, "project_id")
    if task_id is not None:
        validate_id(task_id, "task_id")
    return project_id, task_id


def read_messages(
    svc: Services,
    project_id: str,
    task_id: str | None,
    after: str | None,
    tail: int | None,
    before: str | None,
) -> dict[str, Any]:
    project_id, task_id = _scope(project_id, task_id)
    messages = svc.messages.read(project_id, task_id, after=after, tail=tail, before=before)
    return {"messages": messages, "total": len(messages)}


def check_post(
    svc: Services, body: MessagePost, project_id: str | None, task_id: str | None
) -> tuple[Path, Message]:
    """Every check of a post, before anything is written: the bus file and the message."""
    project = project_id or body.project_id
    if not project:
        raise InvalidRequestError("project_id is required")
    if body.project_id and body.project_id != project:
        raise InvalidRequestError("project_id in the body differs from the path")
    if task_id and body.task_id and body.task_id != task_id:
        raise InvalidRequestError("task_id in the body differs from the path")
    project, task = _scope(project, task_id or body.task_id)
    return svc.messages.prepare(body, project, task)


async def commit_post(svc: Services, path: Path, msg: Message) -> dict[str, Any]:
    """Append the checked message; returns once the write covering it completed."""
    return await svc.messages.commit(path, msg)


async def post_message(
    svc: Services, body: MessagePost, project_id: str | None, task_id: str | None
) -> dict[str, Any]:
    """The POST routes (``async``: the handler awaits the group commit on the event loop,
    no thread hand-off). ``middleware.message_post`` answers them first, with these two
    steps; this is what answers when it hands a request on."""
    return await commit_post(svc, *check_post(svc, body, project_id, task_id))


def stream_messages(
    svc: Services,
    project_id: str,
    task_id: str | None,
    last_event_id: str | None,
    after: str | None,
    tail: int | None,
) -> StreamingResponse:
    project_id, task_id = _scope(project_id, task_id)
    path = svc.messages.bus_path(project_id, task_id)
    return sse_response(message_stream(svc.streams, path, last_event_id, after=after, tail=tail))


@router.get("/api/v1/messages", response_model=MessageList)
def get_messages(
    svc: Svc,
    project_id: ProjectParam,
    task_id: TaskParam = None,
    after: AfterParam = None,
    tail: TailParam = None,
    before: BeforeParam = None,
) -> dict[str, Any]:
    """Messages of the project or task bus: all, the last ``tail``, those after a msg_id,
    or (paging back) the ``tail`` before one."""
    return read_messages(svc, project_id, task_id, after, tail, before)


@router.post("/api/v1/messages", status_code=201, response_model=MessageOut)
async def create_message(svc: Svc, body: MessagePost) -> dict[str, Any]:
    """Append a message (type USER unless given) to the project or task bus."""
    return await post_message(svc, body, None, None)


@router.get("/api/v1/messages/stream", response_class=StreamingResponse, responses=SSE_RESPONSES)
async def stream_bus(
    svc: Svc,
    project_id: ProjectParam,
    task_id: TaskParam = None,
    after: AfterParam = None,
    tail: TailParam = None,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """``message`` events (id = msg_id): the existing messages, then new ones as posted."""
    return stream_messages(svc, project_id, task_id, last_event_id, after, tail)
