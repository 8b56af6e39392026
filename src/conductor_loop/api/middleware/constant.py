"""Health and version answered before FastAPI: the probes polled most, made cheapest.

Their answers never change, so they are encoded once. The layer sits innermost of
ours, so the request id, the path and request guards (Host, Origin), CORS, the body
limit and the API key check (both paths are public) all apply as to any route; only
FastAPI's routing, dependencies and response validation are skipped. The routes stay
declared in ``routes.health`` for the OpenAPI schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


class _Route:
    """What ``scope["route"]`` needs for the request metrics: the route template."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


class ConstantRoutesMiddleware:
    """``GET`` of each path in ``answers`` gets that JSON document (200)."""

    def __init__(self, app: ASGIApp, answers: Mapping[str, Any]) -> None:
        self.app = app
        self._answers: dict[str, tuple[_Route, dict[str, Any], bytes]] = {}
        for path, document in answers.items():
            body = json.dumps(document, separators=(",", ":")).encode()
            start = {
                "type": "http.response.start",
                "status": 200,
                "headers": (
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ),
            }
            self._answers[path] = (_Route(path), start, body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self._answers.get(scope["path"]) if scope["type"] == "http" else None
        if answer is None or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        route, start, body = answer
        scope["route"] = route
        await send(start.copy())  # outer layers replace the headers of their copy
        await send({"type": "http.response.body", "body": body})
