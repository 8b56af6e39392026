"""POST of a bus message answered before FastAPI: the one write route under load.

FastAPI's routing (a regex per route), dependency solving and response validation cost
several times the post itself. This layer sits innermost of ours, like the constant
routes: the request id, the guards, CORS, the body limit and the API key all apply.
It runs exactly what the FastAPI routes run (``MessagePost`` parses the body,
``routes.messages.post_message`` checks the scope and awaits the group commit), and
answers 201 with the message. Whatever it would answer otherwise (a body that is not a
valid ``MessagePost``, a bad id, an unknown project) it hands to FastAPI with the body
it read, before anything is written: FastAPI raises and renders the same error, so
there is one implementation of the checks and of the error bodies. The routes stay
declared in ``routes.messages`` and ``routes.projects`` for the OpenAPI schema.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conductor_loop.api.errors import send_error, status_for
from conductor_loop.api.models import MessageOut, MessagePost
from conductor_loop.api.routes.messages import check_post, commit_post
from conductor_loop.api.services import Services
from conductor_loop.errors import ConductorError

log = logging.getLogger("conductor_loop.api")

PROJECT_ROUTE = "/api/projects/{project_id}/messages"
TASK_ROUTE = "/api/projects/{project_id}/tasks/{task_id}/messages"
BUS_ROUTE = "/api/v1/messages"
_JSON = (b"content-type", b"application/json")


class _Route:
    """What ``scope["route"]`` needs for the request metrics: the route template."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


_ROUTES = {name: _Route(name) for name in (PROJECT_ROUTE, TASK_ROUTE, BUS_ROUTE)}


def _match(path: str) -> tuple[str, str | None, str | None] | None:
    """(route template, project_id, task_id) of a message POST path, else None."""
    if path == BUS_ROUTE:
        return BUS_ROUTE, None, None
    if not path.startswith("/api/projects/") or not path.endswith("/messages"):
        return None
    parts = path[len("/api/projects/") : -len("/messages")].split("/")
    if len(parts) == 1 and parts[0]:
        return PROJECT_ROUTE, parts[0], None
    if len(parts) == 3 and parts[0] and parts[1] == "tasks" and parts[2]:
        return TASK_ROUTE, parts[0], parts[2]
    return None


class MessagePostMiddleware:
    """``POST`` of a message at project, task or bus scope, without FastAPI."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _match(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        template, project_id, task_id = match
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away (or the body limit answered 413)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            post = MessagePost.model_validate_json(body) if body else None
            if post is None:
                raise ValueError("no body")
            checked = check_post(self.services, post, project_id, task_id)
        except (ValidationError, ValueError, ConductorError):
            await self.app(scope, _replay(body, receive), send)
            return
        scope["route"] = _ROUTES[template]
        try:
            document = await commit_post(self.services, *checked)
        except ConductorError as exc:
            status = status_for(exc.code)
            if status >= 500:
                log.error("request failed: %s: %s", exc.code, exc.message)
            await send_error(send, status, exc.code, exc.message)
            return
        payload = MessageOut.model_validate(document).model_dump_json().encode()
        headers = [_JSON, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app behind: the body already read, then the client's events."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
