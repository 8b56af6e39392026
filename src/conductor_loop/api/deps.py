"""Dependencies shared by the routers: the services, path-id validation, SSE responses."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from conductor_loop.api.services import Services
from conductor_loop.storage.ids import validate_id

JSON = "application/json"
# On list responses while the start-up index is incomplete (the body says ``partial``).
PARTIAL_HEADER = "X-Index-Partial"


# Both are ``async``: FastAPI would run plain functions in the thread pool, a thread
# hand-off per dependency per request for what is a dictionary lookup.


async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def index_partial(request: Request, response: Response) -> bool:
    """Whether lists may still miss entries (the start-up walk is running); says so in
    the ``X-Index-Partial`` header of responses made from what the route returns."""
    svc: Services = request.app.state.services
    partial = not svc.index.complete
    if partial:
        response.headers[PARTIAL_HEADER] = "true"
    return partial


async def index_complete(request: Request) -> None:
    """Wait for the start-up index before starting a task: the concurrency limit and the
    queue are counted from it."""
    svc: Services = request.app.state.services
    if not svc.index.complete:
        await run_in_threadpool(svc.index.ready.wait)


def partial_headers(partial: bool) -> dict[str, str] | None:
    """The header for a route that builds its own Response."""
    return {PARTIAL_HEADER: "true"} if partial else None


async def validate_path_ids(request: Request) -> None:
    """Every path parameter of this API is an id: check them all with the one validator."""
    for name, value in request.path_params.items():
        validate_id(value, name)


def sse_response(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
