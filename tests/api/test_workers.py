"""``conductor --workers 4``: four processes on one port, each with its own index and hub,
coordinating through the runs root as replicas do. A real server on loopback, the real
``run-agent`` with the fake agent."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest

from conductor_loop.bus.parser import parse_records
from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import ServerFactory, ServerProcess, wait_task
from tests.api.test_tasks import agent_config, submit
from tests.support import wait_until

WORKERS = 4
CLIENTS = 10
POSTS = 500


@pytest.fixture
def workers_server(server_factory: ServerFactory, tmp_path: Path) -> ServerProcess:
    root = RunsRoot.at(tmp_path / "runs")
    server = server_factory(
        agent_config(tmp_path / "bin"), root=root, args=("--workers", str(WORKERS))
    )
    wait_until(lambda: len(worker_pids(server)) == WORKERS, 20, "the workers to start")
    return server


def worker_pids(server: ServerProcess) -> set[int]:
    return {child.pid for child in psutil.Process(server.pid).children()}


def runs_task(process: psutil.Process, task_id: str, parents: set[int]) -> bool:
    """Whether ``process`` is a task loop for ``task_id`` started by one of ``parents``."""
    try:
        return task_id in process.cmdline() and process.ppid() in parents
    except psutil.Error:  # gone meanwhile
        return False


def answered_by(response: httpx.Response) -> int:
    return int(response.headers["x-conductor-worker"])


def test_start_up_lines_are_printed_once(workers_server: ServerProcess) -> None:
    wait_until(lambda: workers_server.client().get("/api/v1/health").status_code == 200, 10, "ok")
    assert workers_server.log_text().count("listening on") == 1
    assert f"{WORKERS} workers" in workers_server.log_text()


def test_posts_through_all_workers_land_once_each_in_order(workers_server: ServerProcess) -> None:
    workers_server.root.ensure_task_dir("proj", "seed")  # the project exists
    served: Counter[int] = Counter()
    failures: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        seen: Counter[int] = Counter()
        for i in range(POSTS):
            # A new connection every 25 posts: the kernel hands each to some worker.
            if i % 25 == 0:
                http = workers_server.client()
            response = http.post("/api/projects/proj/messages", json={"body": f"c{number} {i}"})
            if response.status_code != 201:
                failures.append(f"client {number} post {i}: {response.status_code}")
                return
            seen[answered_by(response)] += 1
        with lock:
            served.update(seen)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not failures, failures[:5]
    assert sum(served.values()) == CLIENTS * POSTS
    assert set(served) <= worker_pids(workers_server)
    assert len(served) > 1, f"every post went to one worker: {served}"

    bus = workers_server.root.project_bus("proj").read_text(encoding="utf-8")
    messages, _ = parse_records(bus)
    bodies = [m.body for m in messages if m.type == "USER"]
    assert len(bodies) == CLIENTS * POSTS
    assert len(set(bodies)) == CLIENTS * POSTS  # each exactly once
    for number in range(CLIENTS):
        mine = [int(b.split()[1]) for b in bodies if b.startswith(f"c{number} ")]
        assert mine == list(range(POSTS)), f"client {number} out of order"
    # Every worker's index sees every message (each is fed by its own watcher).
    listed = workers_server.client().get("/api/projects/proj/messages").json()
    assert listed["total"] >= CLIENTS * POSTS


def test_one_task_runs_once_and_any_worker_stops_it(
    workers_server: ServerProcess, tmp_path: Path
) -> None:
    client = workers_server.client()
    prompt = f"FAKE@1: wait-file {tmp_path / 'never'} 120\nFAKE@2+: write-done\n"
    created = submit(client, task_id="solo", prompt=prompt)
    assert created.status_code == 201, created.text
    run_id = created.json()["run_id"]
    task_dir = workers_server.root.task_dir("proj", "solo")
    wait_until((task_dir / ".fake-agent-count").exists, 20, "the agent to start")

    # The worker that launched the loop is its parent process.
    workers = worker_pids(workers_server)

    def runs(process: psutil.Process) -> bool:
        return runs_task(process, "solo", workers)

    loops = [p for p in psutil.Process(workers_server.pid).children(recursive=True) if runs(p)]
    assert len(loops) == 1, [p.cmdline() for p in loops]
    owner = loops[0].ppid()

    # Stop it through another worker: new connections until one lands elsewhere.
    def other_worker() -> httpx.Client | None:
        candidate = workers_server.client()
        response = candidate.get("/api/v1/health")
        return candidate if answered_by(response) != owner else None

    other = wait_until(other_worker, 30, "a connection to a worker that does not own the loop")
    stopped = other.post(f"/api/v1/runs/{run_id}/stop")
    assert stopped.status_code == 202, stopped.text
    assert answered_by(stopped) != owner

    view = wait_task(workers_server.api(), "proj", "solo", "stopped")
    assert [r.run_id for r in view.runs] == [run_id]
    assert view.runs[0].status == "stopped"
    wait_until(lambda: not loops[0].is_running(), 30, "the loop to exit")
    # Exactly one loop ran the task: one agent invocation, one RUN_START on its bus.
    assert (task_dir / ".fake-agent-count").read_text(encoding="utf-8").strip() == "1"
    task_bus, _ = parse_records(
        workers_server.root.task_bus("proj", "solo").read_text(encoding="utf-8")
    )
    assert [m.run_id for m in task_bus if m.type == "RUN_START"] == [run_id]


def test_sigterm_stops_every_worker(workers_server: ServerProcess) -> None:
    workers = [psutil.Process(pid) for pid in worker_pids(workers_server)]
    workers_server.proc.send_signal(signal.SIGTERM)
    assert workers_server.proc.wait(15) == 0
    _gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive
    assert "conductor stopped" in workers_server.log_text()


def test_a_killed_server_leaves_no_worker_behind(workers_server: ServerProcess) -> None:
    workers = [psutil.Process(pid) for pid in worker_pids(workers_server)]
    workers_server.kill()
    _gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive
