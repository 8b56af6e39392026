"""A typed Python client for the ``conductor`` REST + SSE API.

    from conductor_loop.client import ConductorClient, NotFoundError

    with ConductorClient("http://127.0.0.1:14355") as api:
        created = api.submit_task("demo", "Write hello.txt", task_id="hello")
        for event in api.stream_run(created.run_id):
            ...

Calls return dataclasses (``client.models``) and raise ``ConductorClientError``
subclasses (``client.errors``); nothing prints or exits.
"""

from conductor_loop.client.errors import (
    ApiError,
    AuthenticationError,
    ConductorClientError,
    ConflictError,
    ConnectionFailedError,
    ForbiddenError,
    NotFoundError,
    ProtocolError,
    ServerError,
    ValidationError,
)
from conductor_loop.client.http import DEFAULT_SERVER, ConductorClient, local_generated_key
from conductor_loop.client.models import (
    Event,
    Heartbeat,
    LogLine,
    Message,
    RunDeleted,
    RunDone,
    RunEvent,
    RunStatusChanged,
)

__all__ = [
    "DEFAULT_SERVER",
    "ApiError",
    "AuthenticationError",
    "ConductorClient",
    "ConductorClientError",
    "ConflictError",
    "ConnectionFailedError",
    "Event",
    "ForbiddenError",
    "Heartbeat",
    "LogLine",
    "Message",
    "NotFoundError",
    "ProtocolError",
    "RunDeleted",
    "RunDone",
    "RunEvent",
    "RunStatusChanged",
    "ServerError",
    "ValidationError",
    "local_generated_key",
]
