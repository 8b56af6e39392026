"""Task loops on a Ray cluster (docker-compose.ray.yml): a Ray head, two worker nodes
with the stand-in agent, and the server with ``executor: ray``, all on one runs
directory. One Compose project for the module, used by the tests in order: six tasks
spread over both workers; a worker killed under a loop, which Ray restarts on the other
node and which completes from disk; a stop through the API reaching a loop on a worker.

Figures (kill → resumed seconds, both image sizes, the suite's time) are recorded with
the container figures (test-artifacts/docker/figures.json).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conductor_loop.bus.reader import read_all
from conductor_loop.runner.liveness import parse_iso
from tests.docker.conftest import open_stack
from tests.docker.helpers import (
    MARK_ITERATION_1,
    REPO,
    Stack,
    docker,
    free_port,
    image_size,
    record_figure,
    server_writable_dir,
    wait_task_finished,
    wait_until,
)

pytestmark = pytest.mark.docker

RAY_FILE = REPO / "docker-compose.ray.yml"
PROJECT = "ray"
WORKERS = 2
SLOTS_PER_WORKER = 4
RESUME_DEADLINE = 90.0  # seconds from a worker's kill to the loop's next run on another


@pytest.fixture(scope="module")
def ray_stack(
    compose_cmd: list[str], conductor_image: str, ray_image: str, ray_agent_image: str
) -> Iterator[Stack]:
    started = time.monotonic()
    record_figure("image_size_mb", image_size(conductor_image) / 1e6)
    record_figure("ray_image_size_mb", image_size(ray_image) / 1e6)
    with open_stack(compose_cmd, ray_agent_image) as stack:
        stack.compose_files = [RAY_FILE]
        stack.extra_env.update(
            {
                "CONDUCTOR_RAY_IMAGE": ray_agent_image,
                "CONDUCTOR_RAY_WORKERS": str(WORKERS),
                "CONDUCTOR_RAY_AGENT_SLOTS": str(SLOTS_PER_WORKER),
                "CONDUCTOR_RAY_DASHBOARD_PORT": str(free_port()),
                "CONDUCTOR_RAY_HEALTH_INTERVAL": "1s",
            }
        )
        server_writable_dir(stack.data_dir / PROJECT)
        stack.up()
        stack.wait_healthy(timeout=120)
        wait_until(lambda: len(worker_nodes(stack)) == WORKERS, 60, "the worker containers")
        wait_until(lambda: slots(stack)[0] == WORKERS * SLOTS_PER_WORKER, 90, "the workers' slots")
        record_figure("ray_stack_ready_seconds", time.monotonic() - started)
        try:
            yield stack
        finally:
            record_figure("ray_suite_seconds", time.monotonic() - started)


def worker_nodes(stack: Stack) -> dict[str, str]:
    """Host name (what run-info's ``ray_node_name`` says) → container id, of running workers."""
    found = {}
    for cid in stack.compose("ps", "-q", "ray-worker").split():
        hostname, state = (
            docker("inspect", "-f", "{{.Config.Hostname}}|{{.State.Status}}", cid)
            .stdout.strip()
            .split("|")
        )
        if state == "running":
            found[hostname] = cid
    return found


def slots(stack: Stack) -> tuple[float, float]:
    """(total, used) agent slots, from the server's /metrics."""
    text = stack.http.get("/metrics").text
    values = {}
    for line in text.splitlines():
        for name in ("conductor_ray_agent_slots_total", "conductor_ray_agent_slots_used"):
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    return (
        values.get("conductor_ray_agent_slots_total", -1.0),
        values.get("conductor_ray_agent_slots_used", -1.0),
    )


def task_bus(stack: Stack, task_id: str) -> list[Any]:
    return read_all(stack.task_dir(PROJECT, task_id) / "TASK-MESSAGE-BUS.md")


def loop_state(stack: Stack, task_id: str) -> dict[str, Any]:
    path: Path = stack.task_dir(PROJECT, task_id) / ".loop.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _one_start_and_end_per_run(messages: list[Any], runs: list[dict[str, Any]]) -> None:
    starts = Counter(m.run_id for m in messages if m.type == "RUN_START")
    ends = Counter(m.run_id for m in messages if m.type in ("RUN_STOP", "RUN_CRASH"))
    for info in runs:
        assert starts[info["run_id"]] == 1, (info["run_id"], starts)
        assert ends[info["run_id"]] == 1, (info["run_id"], ends)
    assert set(starts) == {i["run_id"] for i in runs}, starts


def test_the_dashboard_is_reachable_on_loopback(ray_stack: Stack) -> None:
    port = ray_stack.extra_env["CONDUCTOR_RAY_DASHBOARD_PORT"]
    response = wait_until(
        lambda: _get(f"http://127.0.0.1:{port}/api/version"), 60, "the Ray dashboard"
    )
    assert response.status_code == 200 and "ray_version" in response.text, response.text


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None


def test_six_tasks_spread_over_both_workers_and_complete(ray_stack: Stack) -> None:
    nodes = worker_nodes(ray_stack)
    task_ids = [f"spread-{i}" for i in range(6)]
    for task_id in task_ids:
        created = ray_stack.create_task(
            PROJECT, task_id, "FAKE: sleep 4\nFAKE: answer done\nFAKE: write-done"
        )
        assert created["status"] in ("running", "starting"), created
    placed: Counter[str] = Counter()
    for task_id in task_ids:
        infos = wait_task_finished(ray_stack, PROJECT, task_id, timeout=120)
        assert [i["status"] for i in infos] == ["completed"], infos
        [info] = infos
        assert info["ray_node_name"] in nodes, (info, nodes)
        assert info["host"] == info["ray_node_name"], info  # the runner ran on that node
        assert info["ray_node_id"] and info["ray_worker_id"] and info["ray_job_id"], info
        placed[info["ray_node_name"]] += 1
        assert (ray_stack.task_dir(PROJECT, task_id) / "DONE").exists()
        state = loop_state(ray_stack, task_id)
        assert (state["executor"], state["outcome"]) == ("ray", "completed"), state
        messages = task_bus(ray_stack, task_id)
        _one_start_and_end_per_run(messages, infos)
        assert not [m for m in messages if m.type == "RUN_CRASH"], messages
        # The API shows where it ran.
        shown = ray_stack.run_info(info["run_id"])
        assert shown and shown["ray_node_name"] == info["ray_node_name"], shown
    print(f"runs per worker node: {dict(placed)}")
    record_figure("ray_spread_runs_per_node", json.dumps(sorted(placed.values())))
    assert set(placed) == set(nodes), f"every worker runs at least one loop: {placed}"
    wait_until(lambda: slots(ray_stack)[1] == 0, 30, "every slot to be free again")


KILL_PROMPT = MARK_ITERATION_1 + (
    "FAKE@1: sleep 600\nFAKE@2+: answer finished on the other node\nFAKE@2+: write-done\n"
)


def test_a_killed_workers_loop_continues_on_the_other_node(ray_stack: Stack) -> None:
    nodes = worker_nodes(ray_stack)
    task_id = "node-lost"
    first = ray_stack.start_loop(PROJECT, task_id, KILL_PROMPT)
    victim_name = first["ray_node_name"]
    victim = nodes[victim_name]

    killed_at = time.time()
    docker("kill", victim)
    posted = []
    for i in range(5):  # messages posted while the loop has no node
        body = f"posted during the outage {i}"
        response = ray_stack.http.post(
            f"/api/projects/{PROJECT}/tasks/{task_id}/messages", json={"body": body}
        )
        assert response.status_code == 201, response.text
        posted.append(response.json()["msg_id"])

    def resumed() -> dict[str, Any] | None:
        runs = ray_stack.root_runs(PROJECT, task_id)
        return runs[1] if len(runs) >= 2 else None

    second = wait_until(resumed, RESUME_DEADLINE, "the loop to resume on another node", 0.1)
    resumed_after = (parse_iso(second["start_time"]) or time.time()) - killed_at
    record_figure("ray_kill_to_resumed_seconds", resumed_after)
    print(f"worker {victim_name} killed; run {second['run_id']} started on "
          f"{second['ray_node_name']} {resumed_after:.2f}s later")  # fmt: skip
    assert second["ray_node_name"] != victim_name and second["ray_node_name"] in nodes, second
    assert second["previous_run_id"] == first["run_id"], second

    infos = wait_task_finished(ray_stack, PROJECT, task_id, timeout=120)
    assert [i["status"] for i in infos] == ["failed", "completed"], infos
    assert "exited without recording" in infos[0]["error_summary"], infos[0]
    assert not [i for i in infos if i["status"] == "running"]
    messages = task_bus(ray_stack, task_id)
    assert [m.run_id for m in messages if m.type == "RUN_CRASH"] == [first["run_id"]]
    assert [m.run_id for m in messages if m.type == "RUN_START"] == [i["run_id"] for i in infos]
    _one_start_and_end_per_run(messages, infos)
    ids = {m.msg_id for m in messages}
    assert set(posted) <= ids, "a message posted during the outage is lost"
    adopted = [m for m in messages if m.meta.get("kind") == "adopted"]
    assert len(adopted) == 1, [m.body for m in adopted]
    state = loop_state(ray_stack, task_id)
    assert (state["executor"], state["outcome"]) == ("ray", "completed"), state


def test_a_stop_and_a_resume_through_the_api_reach_loops_on_workers(ray_stack: Stack) -> None:
    task_id = "stopped"
    created = ray_stack.create_task(
        PROJECT, task_id, "FAKE@1: sleep 300\nFAKE@2+: answer resumed\nFAKE@2+: write-done"
    )
    run_id = created["run_id"]
    assert run_id, created
    info = ray_stack.run_info(run_id)
    assert info and info["status"] == "running" and info["ray_node_name"], info
    response = ray_stack.http.post(f"/api/projects/{PROJECT}/tasks/{task_id}/stop")
    assert response.status_code == 202, response.text

    def stopped() -> dict[str, Any] | None:
        now = ray_stack.run_info(run_id)
        return now if now and now["status"] == "stopped" else None

    ended = wait_until(stopped, 30, "the run on the worker to stop")
    assert ended["exit_code"] == 143, ended
    wait_until(
        lambda: loop_state(ray_stack, task_id).get("state") == "exited", 30, "the loop to end"
    )
    assert loop_state(ray_stack, task_id)["outcome"] == "stopped"
    assert not (ray_stack.task_dir(PROJECT, task_id) / "DONE").exists()

    # The loop writes its end before it lets go of the task's lock, and a task reads
    # running while its loop holds the lock: "stopped" follows a moment later.
    def task_status() -> str:
        task = ray_stack.http.get(f"/api/projects/{PROJECT}/tasks/{task_id}").json()
        return str(task["status"])

    wait_until(lambda: task_status() == "stopped", 10, "the task to read stopped")
    wait_until(lambda: slots(ray_stack)[1] == 0, 30, "the loop's slot to be free again")

    response = ray_stack.http.post(f"/api/projects/{PROJECT}/tasks/{task_id}/resume")
    assert response.status_code == 202, response.text
    infos = wait_task_finished(ray_stack, PROJECT, task_id, timeout=120)
    assert [i["status"] for i in infos] == ["stopped", "completed"], infos
    assert infos[1]["ray_node_name"] in worker_nodes(ray_stack), infos[1]
    assert loop_state(ray_stack, task_id)["executor"] == "ray"
