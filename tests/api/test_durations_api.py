"""Durations in the API and in ``conductor task submit``: ``5m`` works as in ``run-agent``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import ServerFactory, ServerProcess, wait_task
from tests.api.test_cli import conductor
from tests.api.test_tasks import agent_config, submit


@pytest.fixture
def task_server(server_factory: ServerFactory, tmp_path: Path) -> ServerProcess:
    return server_factory(agent_config(tmp_path / "bin"), root=RunsRoot.at(tmp_path / "runs"))


def _loop_settings(server: ServerProcess, task: str) -> dict[str, object]:
    state = json.loads((server.root.task_dir("proj", task) / ".loop.json").read_text())
    settings: dict[str, object] = state["settings"]
    return settings


def test_the_api_takes_duration_strings(task_server: ServerProcess) -> None:
    client = task_server.client()
    created = submit(
        client, task_id="d1", prompt="FAKE: write-done", timeout="5m", restart_delay="500ms"
    )
    assert created.status_code == 201, created.text
    wait_task(task_server.api(), "proj", "d1", "completed")
    settings = _loop_settings(task_server, "d1")
    assert settings["timeout"] == 300 and settings["restart_delay"] == 0.5
    bad = submit(client, task_id="d2", prompt="x", timeout="soon")
    assert bad.status_code == 422, bad.text
    assert "timeout" in bad.text and "not a duration" in bad.text
    too_long = submit(client, task_id="d3", prompt="x", restart_delay="2d")
    assert too_long.status_code == 422, too_long.text
    schema = client.get("/openapi.json").json()["components"]["schemas"]["TaskCreate"]
    timeout = schema["properties"]["timeout"]
    assert "string" in json.dumps(timeout) and "number" in json.dumps(timeout)


def test_conductor_task_submit_takes_duration_strings(task_server: ServerProcess) -> None:
    submitted = conductor(
        task_server,
        *("task", "submit", "--project", "proj", "--task", "c1", "--json"),
        *("--timeout", "5m", "--restart-delay", "1s", "--prompt", "FAKE: write-done"),
    )
    assert submitted.returncode == 0, submitted.stderr
    wait_task(task_server.api(), "proj", "c1", "completed")
    assert _loop_settings(task_server, "c1")["timeout"] == 300
    bad = conductor(
        task_server, "task", "submit", "--project", "proj", "--timeout", "soon", "--prompt", "x"
    )
    assert bad.returncode == 2 and "'soon' is not a duration" in bad.stderr
