"""``StartupApp`` when its app cannot be built: the server is told to stop, and the
requests that waited for the app get a 503 (not a hang). Driven through ASGI directly."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from conductor_loop.api.startup import StartupApp


class Broken(Exception):
    pass


def failing_build() -> Any:
    raise Broken("no app today")


async def request(app: StartupApp, path: str) -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "method": "GET", "path": path, "headers": []}
    await app(scope, receive, send)
    return sent[0]["status"], json.loads(sent[1]["body"])


async def scenario() -> tuple[bool, bool, int, dict[str, Any], list[str]]:
    stopped = asyncio.Event()
    app = StartupApp(failing_build, [], on_failure=stopped.set)
    lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    answers: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        answers.append(message["type"])

    await lifespan.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan"}, lifespan.get, send))
    status, body = await asyncio.wait_for(request(app, "/api/v1/runs"), 10)
    await asyncio.wait_for(stopped.wait(), 10)
    await lifespan.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(task, 10)
    return stopped.is_set(), app.failed, status, body, answers


def test_a_build_that_fails_stops_the_server_and_answers_the_waiting_requests() -> None:
    stopped, failed, status, body, answers = asyncio.run(scenario())
    assert stopped and failed
    assert status == 503
    assert body["error"]["code"] == "unavailable"
    assert answers == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
