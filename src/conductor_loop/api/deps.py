"""Dependencies shared by the routers: the services, path-id validation, SSE responses."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from starlette.responses import StreamingResponse

from conductor_loop.api.services import Services
from conductor_loop.storage.ids import validate_id

JSON = "application/json"


# Both are ``async``: FastAPI would run plain functions in the thread pool, a thread
# hand-off per dependency per request for what is a dictionary lookup.


async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


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
