"""Tasks through the API with the real ``run-agent task`` and a fake agent CLI."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from conductor_loop.client import LogLine, RunDone
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import read_run_info
from tests.api.helpers import ServerFactory, ServerProcess, wait_task
from tests.api.test_sse import StreamReader
from tests.fakes import fake_agents_config_text, install_fake_agents
from tests.support import wait_until

TWO_ITERATIONS = "FAKE: print-lines 3 0.05\nFAKE@2: write-done\n"


def agent_config(bin_dir: Path, **defaults: object) -> str:
    """The fake claude (no token) with quick loop timings."""
    install_fake_agents(bin_dir)
    return fake_agents_config_text(bin_dir, agents=("claude",), token=None, **defaults)


@pytest.fixture
def task_server(server_factory: ServerFactory, tmp_path: Path) -> ServerProcess:
    return server_factory(agent_config(tmp_path / "bin"), root=RunsRoot.at(tmp_path / "runs"))


def submit(client: httpx.Client, **body: Any) -> httpx.Response:
    body.setdefault("project_id", "proj")
    return client.post("/api/v1/tasks", json=body)


def test_submitted_task_runs_two_iterations_and_streams_output(task_server: ServerProcess) -> None:
    client = task_server.client()
    created = submit(client, task_id="two", prompt=TWO_ITERATIONS)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "running"
    assert body["run_id"]
    assert (task_server.root.run_dir("proj", "two", body["run_id"]) / "run-info.yaml").exists()

    api = task_server.api()
    events = list(api.stream_run(body["run_id"]))  # the stream ends with the run
    lines = [e.line for e in events if isinstance(e, LogLine)]
    assert any("line 3 of 3" in line for line in lines), lines
    assert isinstance(events[-1], RunDone) and events[-1].status == "completed"

    view = wait_task(api, "proj", "two", "completed")
    assert view.done is True
    assert [r.status for r in view.runs] == ["completed", "completed"]
    assert view.runs[1].previous_run_id == view.runs[0].run_id
    listed = {t.task_id: t for t in api.tasks().tasks}
    assert (listed["two"].status, listed["two"].run_count) == ("completed", 2)
    again = submit(client, task_id="two", prompt="x")
    assert again.status_code == 409


def test_task_survives_server_kill_and_new_server_reports_it(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    config = agent_config(tmp_path / "bin")
    root = RunsRoot.at(tmp_path / "runs")
    first = server_factory(config, root=root, name="first")
    prompt = "FAKE: print-lines 30 0.1\nFAKE@2: write-done\n"
    created = submit(first.client(), task_id="long", prompt=prompt).json()
    run_dir = root.run_dir("proj", "long", created["run_id"])
    first.kill()  # SIGKILL: no shutdown code runs

    runner_pid = read_run_info(run_dir).runner_pid
    os.kill(runner_pid, 0)  # the loop is still alive
    second = server_factory(root=root, name="second")
    api = second.api()
    assert api.task("long", "proj").status == "running"
    assert any(t.task_id == "long" for t in api.status().running_tasks)
    view = wait_task(api, "proj", "long", "completed", timeout=30)
    assert len(view.runs) == 2


def test_concurrency_limit_queues_fifo_and_the_queue_survives_restart(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    config = agent_config(tmp_path / "bin", max_concurrent_root_tasks=1)
    root = RunsRoot.at(tmp_path / "runs")
    gate = tmp_path / "gate"
    server = server_factory(config, root=root, name="first")
    client = server.client()
    first = submit(client, task_id="a", prompt=f"FAKE: wait-file {gate} 60\nFAKE: write-done\n")
    assert first.json()["status"] == "running"
    second = submit(client, task_id="b", prompt="FAKE: write-done\n").json()
    third = submit(client, task_id="c", prompt="FAKE: write-done\n").json()
    assert (second["status"], second["queue_position"], second["run_id"]) == ("queued", 1, None)
    assert (third["status"], third["queue_position"]) == ("queued", 2)
    server.stop()

    restarted = server_factory(config, root=root, name="second")
    api = restarted.api()
    queued = api.tasks(status="queued").tasks
    assert [(t.task_id, t.queue_position) for t in queued] == [("b", 1), ("c", 2)]
    gate.touch()
    _, b, c = (wait_task(api, "proj", task, "completed") for task in ("a", "b", "c"))
    assert b.runs[0].start_time < c.runs[0].start_time


def test_depends_on_waits_for_done_and_rejects_cycles(task_server: ServerProcess) -> None:
    client = task_server.client()
    later = submit(client, task_id="later", prompt="FAKE: write-done\n", depends_on=["first"])
    assert later.status_code == 201
    assert later.json()["status"] == "queued"
    api = task_server.api()
    assert api.task("later", "proj").waiting_for == ["first"]
    cycle = submit(client, task_id="first", prompt="x", depends_on=["later"])
    assert cycle.status_code == 400
    assert cycle.json()["error"]["code"] == "dependency_cycle"
    itself = submit(client, task_id="self", prompt="x", depends_on=["self"])
    assert itself.status_code == 400
    ok = submit(client, task_id="first", prompt="FAKE: write-done\n")
    assert ok.status_code == 201
    wait_task(api, "proj", "first", "completed")
    assert wait_task(api, "proj", "later", "completed").waiting_for == []


def test_stop_resume_and_delete_through_the_api(task_server: ServerProcess, tmp_path: Path) -> None:
    client = task_server.client()
    gate = tmp_path / "never"
    prompt = f"FAKE@1: wait-file {gate} 60\nFAKE@2: write-done\n"
    created = submit(client, task_id="ctl", prompt=prompt).json()
    # Stop only once the agent has counted itself run 1, or the resumed run is run 1 again.
    counter = task_server.root.task_dir("proj", "ctl") / ".fake-agent-count"
    wait_until(counter.exists, 20, "the first agent to read its prompt")
    busy = client.delete("/api/projects/proj/tasks/ctl")
    assert busy.status_code == 409
    stopped = client.delete("/api/v1/tasks/ctl", params={"project_id": "proj"})
    assert stopped.status_code == 202
    view = wait_task(task_server.api(), "proj", "ctl", "stopped", timeout=20)
    assert (view.runs[0].run_id, view.runs[0].status) == (created["run_id"], "stopped")

    resumed = client.post("/api/projects/proj/tasks/ctl/resume")
    assert resumed.status_code == 202, resumed.text
    assert resumed.json()["run_id"] not in (None, created["run_id"])
    wait_task(task_server.api(), "proj", "ctl", "completed")

    deleted = client.delete("/api/projects/proj/tasks/ctl")
    assert deleted.status_code == 200
    assert deleted.json()["status"] == "deleted"
    assert not task_server.root.task_dir("proj", "ctl").exists()
    wait_until(
        lambda: client.get("/api/projects/proj/tasks/ctl").status_code == 404, 30, "task gone"
    )


def test_run_stop_through_the_api(task_server: ServerProcess, tmp_path: Path) -> None:
    client = task_server.client()
    created = submit(
        client, task_id="one-run", prompt=f"FAKE: wait-file {tmp_path / 'never'} 60\n"
    ).json()
    run_id = created["run_id"]
    accepted = client.post(f"/api/projects/proj/tasks/one-run/runs/{run_id}/stop")
    assert accepted.status_code == 202
    api = task_server.api()
    wait_until(lambda: api.run(run_id).status == "stopped", 20, "run to stop")
    assert client.post(f"/api/v1/runs/{run_id}/stop").status_code == 409
    assert "wait-file" in api.run_file("proj", "one-run", run_id, "prompt").content


def test_sigterm_ends_open_streams_and_stops_the_server(task_server: ServerProcess) -> None:
    client = task_server.client()
    task_server.root.ensure_task_dir("proj", "t")
    reader = StreamReader(client, "/api/v1/messages/stream?project_id=proj")
    task_server.proc.send_signal(signal.SIGTERM)
    assert task_server.proc.wait(30) == 0
    reader.close()
    log = task_server.log_text()
    assert "conductor stopped" in log
    # The server ended the stream itself; uvicorn did not have to cancel it after the grace.
    assert "graceful shutdown exceeded" not in log


def test_a_loop_that_died_with_the_server_is_adopted_at_start_up(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    config = agent_config(tmp_path / "bin")
    root = RunsRoot.at(tmp_path / "runs")
    first = server_factory(config, root=root, name="first")
    prompt = "FAKE@1: sleep 60\nFAKE@2+: write-done\n"
    created = submit(first.client(), task_id="cut", prompt=prompt).json()
    run_dir = root.run_dir("proj", "cut", created["run_id"])
    wait_until(lambda: read_run_info(run_dir).pid > 0, 20, "the agent to start")
    wait_until((root.task_dir("proj", "cut") / ".fake-agent-count").exists, 20, "agent counted")
    first.kill()
    os.kill(read_run_info(run_dir).runner_pid, signal.SIGKILL)  # the container went away
    second = server_factory(config, root=root, name="second")
    view = wait_task(second.api(), "proj", "cut", "completed", timeout=60)
    assert [r.status for r in view.runs] == ["failed", "completed"], view.runs
    assert "adoption" in second.log_text()
