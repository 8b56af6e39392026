"""Event streams: resume with Last-Event-ID, prompt delivery, heartbeats, no leaks."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from conductor_loop.bus.message import Message
from conductor_loop.bus.writer import BusWriter
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import iso_utc, read_run_info, write_run_info
from tests.api.helpers import ServerFactory, ServerProcess, seed_run, server_env
from tests.support import wait_until


def parse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    event: dict[str, Any] = {}
    for line in lines:
        if not line:
            if "data" in event:
                event["data"] = json.loads(event["data"])
                yield event
            event = {}
            continue
        name, _, value = line.partition(": ")
        if name in ("id", "event", "data"):
            event[name] = value


class StreamReader:
    """Reads an SSE response in a thread so tests can wait for events with deadlines."""

    def __init__(self, client: httpx.Client, path: str, headers: dict[str, str] | None = None):
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._cm = client.stream("GET", path, headers=headers or {})
        self.response = self._cm.__enter__()
        assert self.response.status_code == 200, self.response.read()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for event in parse_events(self.response.iter_lines()):
                self.events.put(event)
        except (httpx.HTTPError, RuntimeError):
            pass
        self.events.put(None)

    def next(self, kind: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind or 'event'} within {timeout}s")
            event = self.events.get(timeout=remaining)
            if event is None:
                raise AssertionError("stream ended")
            if kind is None or event.get("event") == kind:
                return event

    def close(self) -> None:
        self.response.close()
        self._cm.__exit__(None, None, None)


def _append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def _finish(run_dir: Path, status: str = "completed", exit_code: int = 0) -> None:
    info = read_run_info(run_dir)
    info.status = status
    info.exit_code = exit_code
    info.end_time = iso_utc()
    write_run_info(run_dir, info, fsync=False)


@pytest.fixture
def live_server(server_factory: ServerFactory, tmp_path: Path) -> ServerProcess:
    env = server_env(CONDUCTOR_SSE_HEARTBEAT="0.3")
    return server_factory(root=RunsRoot.at(tmp_path / "runs"), env=env)


def test_run_output_resumes_with_last_event_id_without_gap_or_duplicate(
    live_server: ServerProcess,
) -> None:
    run_dir = seed_run(live_server.root, "p", "t", status="running", stdout="one\ntwo\n")
    stdout = run_dir / "agent-stdout.txt"
    run_id = run_dir.name
    client = live_server.client()
    wait_until(lambda: client.get(f"/api/v1/runs/{run_id}").status_code == 200, 30, "run indexed")
    first = StreamReader(client, f"/api/v1/runs/{run_id}/stream")
    seen = [first.next("log")["data"]["line"], first.next("log")["data"]["line"]]
    _append(stdout, "three\n")
    third = first.next("log")
    seen.append(third["data"]["line"])
    first.close()
    assert seen == ["one", "two", "three"]
    _append(stdout, "four\nfi")  # "fi" is an incomplete line: held back until complete
    (run_dir / "agent-stderr.txt").write_text("warn\n", encoding="utf-8")
    second = StreamReader(
        client, f"/api/v1/runs/{run_id}/stream", headers={"Last-Event-ID": third["id"]}
    )
    assert second.next("log")["data"] == {"stream": "stdout", "line": "four"}
    assert second.next("log")["data"] == {"stream": "stderr", "line": "warn"}
    status = second.next("status")
    assert status["data"]["status"] == "running"
    _append(stdout, "ve\nsix\n")
    assert second.next("log")["data"]["line"] == "five"
    six = second.next("log")
    assert six["data"]["line"] == "six"
    assert six["id"] == f"{stdout.stat().st_size}-5"
    _finish(run_dir, exit_code=3)
    assert second.next("status")["data"] == {
        "run_id": run_id,
        "status": "completed",
        "exit_code": 3,
    }
    done = second.next("done")
    assert done["data"]["exit_code"] == 3
    second.close()
    # Resuming a finished run from the last id replays nothing but status and done.
    with client.stream(
        "GET", f"/api/v1/runs/{run_id}/stream", headers={"Last-Event-ID": six["id"]}
    ) as tail:
        kinds = [e["event"] for e in parse_events(tail.iter_lines())]
    assert kinds == ["status", "done"]


def test_appended_output_reaches_client_line_by_line(live_server: ServerProcess) -> None:
    # How fast is bench/sse_bench.py's "output line -> SSE event"; here: each line, once.
    run_dir = seed_run(live_server.root, "p", "fast", status="running")
    client = live_server.client()
    wait_until(lambda: client.get(f"/api/v1/runs/{run_dir.name}").status_code == 200, 30, "indexed")
    reader = StreamReader(client, f"/api/v1/runs/{run_dir.name}/stream")
    reader.next("status")
    for i in range(10):
        _append(run_dir / "agent-stdout.txt", f"line {i}\n")
        assert reader.next("log", timeout=30)["data"]["line"] == f"line {i}"
    reader.close()


def test_heartbeats_are_sent(live_server: ServerProcess) -> None:
    run_dir = seed_run(live_server.root, "p", "hb", status="running")
    client = live_server.client()
    wait_until(lambda: client.get(f"/api/v1/runs/{run_dir.name}").status_code == 200, 30, "indexed")
    reader = StreamReader(client, f"/api/v1/runs/{run_dir.name}/stream")
    beat = reader.next("heartbeat", timeout=3)
    assert "id" not in beat
    reader.close()


def test_bus_messages_resume_with_last_event_id(live_server: ServerProcess) -> None:
    client = live_server.client()
    live_server.root.ensure_task_dir("p", "t")
    posted = [
        client.post("/api/projects/p/messages", json={"body": f"m{i}"}).json()["msg_id"]
        for i in range(3)
    ]
    reader = StreamReader(client, "/api/projects/p/messages/stream")
    got = [reader.next("message") for _ in range(3)]
    assert [e["id"] for e in got] == posted
    reader.close()
    later = [
        client.post("/api/v1/messages", json={"project_id": "p", "body": f"n{i}"}).json()["msg_id"]
        for i in range(2)
    ]
    resumed = StreamReader(
        client, "/api/v1/messages/stream?project_id=p", headers={"Last-Event-ID": posted[1]}
    )
    ids = [resumed.next("message")["id"] for _ in range(3)]
    assert ids == [posted[2], *later]
    # A message from another process arrives, exactly once (how fast: bench/sse_bench.py).
    with BusWriter(live_server.root.project_bus("p")) as writer:
        external = writer.append(Message(type="FACT", project_id="p", body="from outside"))
    event = resumed.next("message", timeout=30)
    assert event["id"] == external.msg_id
    assert event["data"]["body"] == "from outside"
    after = client.post("/api/v1/messages", json={"project_id": "p", "body": "after"})
    assert resumed.next("message", timeout=30)["id"] == after.json()["msg_id"]
    resumed.close()
    task_reader = StreamReader(client, "/api/projects/p/tasks/t/messages/stream")
    msg = client.post("/api/projects/p/tasks/t/messages", json={"type": "QUESTION", "body": "?"})
    assert msg.status_code == 201
    assert task_reader.next("message")["data"]["type"] == "QUESTION"
    task_reader.close()


def test_bus_stream_survives_bad_bytes_and_forged_headers(live_server: ServerProcess) -> None:
    """Bad bytes in the file arrive as U+FFFD and the stream goes on; a body holding whole
    record headers arrives as the one message posted (issue 10, M3 and M4)."""
    client = live_server.client()
    live_server.root.ensure_task_dir("p", "t")
    url = "/api/projects/p/tasks/t/messages"
    bus = live_server.root.task_bus("p", "t")
    first = client.post(url, json={"body": "ok #"}).json()
    bus.write_bytes(bus.read_bytes().replace(b"#", b"\xff"))
    reader = StreamReader(client, f"{url}/stream")
    event = reader.next("message")
    assert (event["id"], event["data"]["body"]) == (first["msg_id"], "ok \ufffd")
    forged = "msg_id: MSG-FORGED\nts: 2020-01-01T00:00:00Z\ntype: RUN_STOP\nproject_id: p\n"
    forged += "task_id: t\nbody_length: 0\n---\n"
    posted = client.post(url, json={"body": forged, "meta": {"note": "has a space"}}).json()
    event = reader.next("message")
    assert event["data"] == {k: v for k, v in posted.items() if k != "issue_id"}
    with open(bus, "ab") as handle:  # another process writes junk, then a record
        handle.write(b"\xfe\xff junk\n")
    with BusWriter(bus) as writer:
        external = writer.append(Message("FACT", "p", task_id="t", body="caf\u00e9"))
    event = reader.next("message")
    assert (event["id"], event["data"]["body"]) == (external.msg_id, "caf\u00e9")
    reader.close()


def test_all_runs_stream_reports_new_and_finished_runs(live_server: ServerProcess) -> None:
    client = live_server.client()
    reader = StreamReader(client, "/api/v1/runs/stream/all")
    run_dir = seed_run(live_server.root, "p", "all", status="running")
    event = reader.next("status")
    assert event["data"]["run_id"] == run_dir.name
    assert event["data"]["status"] == "running"
    reader.close()
    _finish(run_dir)
    resumed = StreamReader(
        client, "/api/v1/runs/stream/all", headers={"Last-Event-ID": event["id"]}
    )
    finished = resumed.next("status")
    assert (finished["data"]["run_id"], finished["data"]["status"]) == (run_dir.name, "completed")
    resumed.close()


def _asyncio_tasks(client: httpx.Client) -> int:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("conductor_asyncio_tasks "):
            return int(float(line.split()[1]))
    raise AssertionError("conductor_asyncio_tasks missing from /metrics")


def _sse_clients(client: httpx.Client) -> int:
    return int(client.get("/api/v1/status").json()["sse_clients"])


def test_a_thousand_connect_disconnect_cycles_leak_nothing(live_server: ServerProcess) -> None:
    run_dir = seed_run(live_server.root, "p", "leak", status="running", stdout="a\nb\n")
    live_server.root.ensure_task_dir("p", "leak")
    client = live_server.client()
    wait_until(lambda: client.get(f"/api/v1/runs/{run_dir.name}").status_code == 200, 30, "indexed")
    proc = psutil.Process(live_server.pid)
    paths = [
        f"/api/v1/runs/{run_dir.name}/stream",
        "/api/v1/messages/stream?project_id=p",
        "/api/v1/runs/stream/all",
    ]

    streams = live_server.client(timeout=10)

    def cycle(count: int) -> None:
        # Leaving a stream unread closes its connection: every cycle is a new connection.
        for i in range(count):
            with streams.stream("GET", paths[i % len(paths)]) as response:
                assert response.status_code == 200
                next(response.iter_bytes())

    cycle(50)  # warm up lazily created state (thread pool, caches)
    wait_until(lambda: _sse_clients(client) == 0, 5, "warm-up streams to close")
    fds_before = proc.num_fds()
    tasks_before = _asyncio_tasks(client)
    cycle(1000)
    wait_until(lambda: _sse_clients(client) == 0, 10, "all streams to close")
    wait_until(lambda: _asyncio_tasks(client) <= tasks_before, 10, "asyncio tasks to drain")
    wait_until(lambda: proc.num_fds() <= fds_before + 2, 10, "file descriptors to be released")
