"""``/metrics`` of ``conductor --workers 3`` reports the whole server, whichever worker
answers the scrape: counters summed over the workers (a killed worker's included, so they
never go backwards), ``sse_clients`` summed, uptime the server's. A real server."""

from __future__ import annotations

import os
import signal
import stat
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.helpers import ServerFactory, ServerProcess, server_env
from tests.support import wait_until

WORKERS = 3
REQUESTS = 60
VERSION = ("GET", "/api/v1/version", "200")


def worker_pids(server: ServerProcess) -> set[int]:
    return {child.pid for child in psutil.Process(server.pid).children()}


def answered_by(response: httpx.Response) -> int:
    return int(response.headers["x-conductor-worker"])


@pytest.fixture
def workers_server(server_factory: ServerFactory, tmp_path: Path) -> ServerProcess:
    server = server_factory(args=("--workers", str(WORKERS)))
    wait_until(lambda: len(worker_pids(server)) == WORKERS, 20, "the workers to start")
    return server


def scrape(server: ServerProcess) -> tuple[int, dict[str, dict[tuple[str, ...], float]]]:
    """One scrape on a new connection: (the worker that answered, samples by name)."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    samples: dict[str, dict[tuple[str, ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = tuple(sample.labels[k] for k in sorted(sample.labels))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return answered_by(response), samples


def requests_to(samples: dict[str, dict[tuple[str, ...], float]], key: tuple[str, ...]) -> float:
    # Labels sorted by name: method, route, status.
    return samples.get("conductor_http_requests_total", {}).get(key, 0.0)


def scrapes_from_every_worker(server: ServerProcess) -> dict[int, dict[str, dict[Any, float]]]:
    """Scrape on new connections until each worker has answered at least once."""
    seen: dict[int, dict[str, dict[tuple[str, ...], float]]] = {}

    def all_answered() -> bool:
        pid, samples = scrape(server)
        seen[pid] = samples
        return set(seen) >= worker_pids(server)

    wait_until(all_answered, 30, "a scrape answered by every worker")
    return seen


def test_every_worker_reports_the_whole_server(workers_server: ServerProcess) -> None:
    answered: set[int] = set()
    for _ in range(REQUESTS):  # a new connection each: the kernel spreads them
        with httpx.Client(base_url=workers_server.url, timeout=30) as client:
            answered.add(answered_by(client.get("/api/v1/version")))
    assert len(answered) > 1, "every request went to one worker"

    # At once: every scrape counts at least what the answering worker served, and all of
    # them once the other workers' snapshots are in (within the flush interval).
    def all_counted() -> bool:
        scrapes = scrapes_from_every_worker(workers_server)
        return all(requests_to(s, VERSION) == REQUESTS for s in scrapes.values())

    wait_until(all_counted, 30, "every worker to report all requests")
    for samples in scrapes_from_every_worker(workers_server).values():
        assert requests_to(samples, VERSION) == REQUESTS
        assert samples["conductor_sse_clients"][()] == 0
        assert samples["conductor_workers"][()] == WORKERS


def test_counters_survive_a_killed_worker(workers_server: ServerProcess) -> None:
    served: Counter[int] = Counter()
    for _ in range(REQUESTS):
        with httpx.Client(base_url=workers_server.url, timeout=30) as client:
            served[answered_by(client.get("/api/v1/version"))] += 1
    wait_until(
        lambda: requests_to(scrape(workers_server)[1], VERSION) == REQUESTS,
        30,
        "all requests to be counted",
    )
    before = worker_pids(workers_server)
    victim = served.most_common(1)[0][0]  # its counts must not vanish with it
    assert victim in before
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: len(after := worker_pids(workers_server)) == WORKERS and victim not in after,
        30,
        "the killed worker to be replaced",
    )
    for samples in scrapes_from_every_worker(workers_server).values():
        assert requests_to(samples, VERSION) == REQUESTS  # not one fewer: monotonic
    wait_until(
        lambda: scrape(workers_server)[1]["conductor_workers"][()] == WORKERS,
        30,
        "the new worker to report",
    )


def test_metrics_dir_is_private_and_removed_at_stop(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    server = server_factory(args=("--workers", "2"), env=server_env(TMPDIR=str(tmp)))
    wait_until(lambda: list(tmp.glob("conductor-metrics-*")), 20, "the metrics dir")
    (metrics_dir,) = tmp.glob("conductor-metrics-*")
    assert stat.S_IMODE(metrics_dir.stat().st_mode) == 0o700
    wait_until(lambda: len(list(metrics_dir.glob("*.json"))) == 2, 20, "both workers' files")
    assert not list(server.root.path.rglob("*.json"))  # nothing in the runs root
    assert server.stop() == 0
    assert not metrics_dir.exists()


def test_sse_clients_in_status_count_every_worker(workers_server: ServerProcess) -> None:
    streams: list[httpx.Client] = []
    holders: set[int] = set()
    try:
        # Streams on new connections until two different workers hold one.
        while len(holders) < 2:
            client = httpx.Client(base_url=workers_server.url, timeout=30)
            streams.append(client)
            response = client.send(
                client.build_request("GET", "/api/v1/runs/stream/all"), stream=True
            )
            assert response.status_code == 200, response.status_code
            holders.add(answered_by(response))
            assert len(streams) < 50, "streams never reached a second worker"

        def counted_everywhere() -> bool:
            counts = set()
            for _ in range(10):
                with httpx.Client(base_url=workers_server.url, timeout=30) as client:
                    counts.add(client.get("/api/v1/status").json()["sse_clients"])
            return counts == {len(streams)}

        wait_until(counted_everywhere, 30, "every worker to count every stream")
    finally:
        for client in streams:
            client.close()
