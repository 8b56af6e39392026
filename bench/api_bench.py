"""API server benchmark over 10,000 runs on disk.

Run: ``python -m bench api``. Starts the real ``conductor`` process on a loopback port
over a generated runs root (``bench/gen_runs.py``) and measures start-up to healthy,
idle memory, list and lookup latency, SSE delivery latency for output lines and bus
messages, memory with 200 SSE clients, and requests/s with ``wrk`` (when installed).
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.gen_runs import generate
from bench.report import Row, finish
from bench.serving import Started, start_conductor
from conductor_loop.storage.ids import new_run_id
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import RunInfo, iso_utc, write_run_info

RUNS = 10_000
STARTS = 3
SSE_CLIENTS = 200


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_server(root: Path, work: Path) -> Started:
    # One process: start-up and RSS are those of one server (http_bench measures workers).
    return start_conductor(root, work, workers=1)


def latencies_ms(client: httpx.Client, paths: list[str]) -> list[float]:
    """Sequential request latencies; the client's own GC is paused (we measure the server)."""
    result = []
    gc.collect()
    gc.disable()
    try:
        for path in paths:
            started = time.perf_counter()
            response = client.get(path)
            result.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: HTTP {response.status_code}")
    finally:
        gc.enable()
    return result


def running_run(root: RunsRoot, project: str, task: str) -> Path:
    run_id = new_run_id()
    run_dir = root.create_run_dir(project, task, run_id)
    (run_dir / "agent-stdout.txt").write_text("", encoding="utf-8")
    info = RunInfo(
        run_id=run_id,
        project_id=project,
        task_id=task,
        agent="claude",
        status="running",
        start_time=iso_utc(),
        pid=os.getpid(),
        runner_pid=os.getpid(),
    )
    write_run_info(run_dir, info, fsync=False)
    return run_dir


class EventTimes:
    """Reads one SSE stream in a thread; records when each event whose data has a marker arrives."""

    def __init__(self, url: str, kind: str, marker: re.Pattern[str]) -> None:
        self.arrived: dict[int, float] = {}
        self.ready = threading.Event()
        self._url, self._kind, self._marker = url, kind, marker
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=None))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self.ready.wait(10)

    def _read(self) -> None:
        event = ""
        try:
            with self._client.stream("GET", self._url) as response:
                self.ready.set()
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == self._kind:
                        match = self._marker.search(line)
                        if match:
                            self.arrived[int(match.group(1))] = time.perf_counter()
        except (httpx.HTTPError, RuntimeError):
            pass  # closed by close()

    def close(self) -> None:
        self._client.close()

    def latencies(self, sent: dict[int, float], timeout: float = 5) -> list[float]:
        """Milliseconds from each send (marker -> time) to its event, once every event
        arrived or ``timeout`` passed; the stream is closed then. Lost events are left out."""
        deadline = time.monotonic() + timeout
        while len(self.arrived) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.close()
        return [(self.arrived[i] - sent[i]) * 1000 for i in sent if i in self.arrived]


def served_running_run(server: Started, root: RunsRoot, project: str) -> Path:
    """A new running run in ``project``, once the server answers for it."""
    run_dir = running_run(root, project, "task-20260223-191700-bench-00")
    with httpx.Client(base_url=server.url) as client:
        deadline = time.monotonic() + 5
        while client.get(f"/api/v1/runs/{run_dir.name}").status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("running run was not indexed")
            time.sleep(0.01)
    return run_dir


def output_latency(server: Started, root: RunsRoot, samples: int = 200) -> list[float]:
    run_dir = served_running_run(server, root, "project-00")
    reader = EventTimes(
        f"{server.url}/api/v1/runs/{run_dir.name}/stream", "log", re.compile(r"probe (\d+)")
    )
    sent: dict[int, float] = {}
    with open(run_dir / "agent-stdout.txt", "a", buffering=1, encoding="utf-8") as out:
        time.sleep(0.2)
        for i in range(samples):
            sent[i] = time.perf_counter()
            out.write(f"probe {i}\n")
            out.flush()
            time.sleep(0.02)
    return reader.latencies(sent)


def message_latency(server: Started, samples: int = 200) -> list[float]:
    reader = EventTimes(
        f"{server.url}/api/projects/project-01/messages/stream?tail=1",
        "message",
        re.compile(r"probe (\d+)"),
    )
    time.sleep(0.2)
    sent: dict[int, float] = {}
    with httpx.Client(base_url=server.url) as client:
        for i in range(samples):
            sent[i] = time.perf_counter()
            response = client.post("/api/projects/project-01/messages", json={"body": f"probe {i}"})
            response.raise_for_status()
            time.sleep(0.01)
    return reader.latencies(sent)


async def _many_clients(server: Started, run_dir: Path, count: int) -> dict[str, float]:
    url = f"{server.url}/api/v1/runs/{run_dir.name}/stream"
    limits = httpx.Limits(max_connections=count + 10)
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=None), limits=limits) as client:
        connected = 0
        received: list[float] = []
        all_connected = asyncio.Event()
        go = asyncio.Event()

        async def one() -> None:
            nonlocal connected
            async with client.stream("GET", url) as response:
                lines = response.aiter_lines()
                async for line in lines:
                    if line.startswith("event: status"):
                        break
                connected += 1
                if connected == count:
                    all_connected.set()
                await go.wait()
                async for line in lines:
                    if "fan-out" in line:
                        received.append(time.perf_counter())
                        return

        tasks = [asyncio.create_task(one()) for _ in range(count)]
        await asyncio.wait_for(all_connected.wait(), 60)
        await asyncio.sleep(1.0)
        rss = server.rss_mb()
        go.set()
        started = time.perf_counter()
        with open(run_dir / "agent-stdout.txt", "a", encoding="utf-8") as out:
            out.write("fan-out\n")
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        return {
            "rss_mb": rss,
            "fanout_max_ms": (max(received) - started) * 1000,
            "fanout_p50_ms": (statistics.median(received) - started) * 1000,
        }


def many_clients(server: Started, root: RunsRoot) -> dict[str, float]:
    run_dir = served_running_run(server, root, "project-02")
    return asyncio.run(_many_clients(server, run_dir, SSE_CLIENTS))


def wrk(url: str) -> float | None:
    exe = shutil.which("wrk")
    if exe is None:
        return None
    out = subprocess.run(
        [exe, "-t2", "-c32", "-d5s", url], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else None


def main() -> int:
    rows: list[Row] = []
    details: dict[str, Any] = {"runs": RUNS}
    with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp:
        work = Path(tmp)
        root = RunsRoot.at(work / "runs")
        ids = generate(root.path, RUNS, projects=10, tasks=10)
        os.sync()  # write-back of the generated tree must not run during the start-ups
        startups = []
        for _ in range(STARTS - 1):
            probe = start_server(root.path, work)
            startups.append(probe.startup_seconds)
            probe.stop()
        server = start_server(root.path, work)
        startups.append(server.startup_seconds)
        startup = statistics.median(startups)
        details["startups_s"] = startups
        try:
            rows.append(
                Row(
                    "start-up to healthy (10k runs)",
                    startup * 1000,
                    "ms",
                    "<= 1500 ms",
                    startup <= 1.5,
                    f"median of {STARTS}; max {max(startups) * 1000:.0f} ms",
                )
            )
            time.sleep(2.0)
            idle = server.rss_mb()
            rows.append(Row("idle RSS (10k runs)", idle, "MB", "<= 100 MB", idle <= 100))
            with httpx.Client(base_url=server.url, timeout=30) as client:
                latencies_ms(client, ["/api/v1/runs?limit=100"] * 50)  # warm-up
                page = latencies_ms(client, ["/api/v1/runs?limit=100"] * 1000)
                rows.append(
                    Row(
                        "GET /api/v1/runs?limit=100 p99",
                        pct(page, 0.99),
                        "ms",
                        "<= 20 ms",
                        pct(page, 0.99) <= 20,
                        f"p50 {statistics.median(page):.2f} ms",
                    )
                )
                sample = random.Random(1).choices(ids, k=3000)
                one = latencies_ms(client, [f"/api/v1/runs/{r}" for r in sample])
                rows.append(
                    Row(
                        "GET /api/v1/runs/{id} p99",
                        pct(one, 0.99),
                        "ms",
                        "<= 5 ms",
                        pct(one, 0.99) <= 5,
                        f"p50 {statistics.median(one):.2f} ms",
                    )
                )
                full_path = "/api/v1/runs?project_id=project-03"
                assert len(client.get(full_path).json()["runs"]) == 1000
                full = latencies_ms(client, [full_path] * 300)
                rows.append(
                    Row(
                        "full list of 1,000 runs p50",
                        statistics.median(full),
                        "ms",
                        "<= 6 ms",
                        statistics.median(full) <= 6,
                        f"p99 {pct(full, 0.99):.2f} ms",
                    )
                )
            out = output_latency(server, root)
            rows.append(
                Row(
                    "output line -> SSE event p50",
                    statistics.median(out),
                    "ms",
                    "<= 10 ms",
                    statistics.median(out) <= 10,
                    f"{len(out)} samples",
                )
            )
            rows.append(
                Row(
                    "output line -> SSE event p99",
                    pct(out, 0.99),
                    "ms",
                    "<= 50 ms",
                    pct(out, 0.99) <= 50,
                )
            )
            msg = message_latency(server)
            rows.append(
                Row(
                    "message post -> SSE event p50",
                    statistics.median(msg),
                    "ms",
                    "<= 10 ms",
                    statistics.median(msg) <= 10,
                    f"p99 {pct(msg, 0.99):.2f} ms",
                )
            )
            fan = many_clients(server, root)
            rows.append(
                Row(
                    f"RSS with {SSE_CLIENTS} SSE clients",
                    fan["rss_mb"],
                    "MB",
                    "<= 150 MB",
                    fan["rss_mb"] <= 150,
                    f"one line to all: p50 {fan['fanout_p50_ms']:.0f} ms, "
                    f"max {fan['fanout_max_ms']:.0f} ms",
                )
            )
            details["fanout"] = fan
            for name, path in (
                ("wrk GET /api/v1/health", "/api/v1/health"),
                ("wrk GET /api/v1/runs/{id}", f"/api/v1/runs/{ids[len(ids) // 2]}"),
            ):
                rps = wrk(server.url + path)
                if rps is None:
                    rows.append(Row(name, 0, "req/s", note="wrk not installed: skipped"))
                else:
                    rows.append(Row(name, rps, "req/s", note="2 threads, 32 connections, 5 s"))
        finally:
            server.stop()
    details["server_log_tail"] = ""
    return finish("api", rows, details)


if __name__ == "__main__":
    sys.exit(main())
