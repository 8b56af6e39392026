"""Prometheus metrics on the server's own registry (never the process-global one).

With several workers each one counts in its own process and ``/metrics`` reports the sum
over the workers (``metrics_files``); the run and usage figures come from the runs on
disk, which every worker's index sees alike, so they are not summed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from conductor_loop.api import metrics_files
from conductor_loop.api.metrics_files import Snapshot
from conductor_loop.api.middleware.context import RequestTally
from conductor_loop.errors import ConductorError
from conductor_loop.storage.usage import Usage

log = logging.getLogger("conductor_loop.api")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _RunCounts(Collector):
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "conductor_runs", "Runs on disk by status (running = active).", labels=["status"]
        )
        counts = self._counts()
        for status in ("running", "completed", "failed", "stopped"):
            family.add_metric([status], counts.get(status, 0))
        yield family


class _ClusterSlots(Collector):
    """The Ray cluster's agent slots (``executor: ray``), as the executor last saw them."""

    def __init__(self, slots: Callable[[], tuple[float, float] | None]) -> None:
        self._slots = slots

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # registering must not ask the cluster

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = self._slots()
        if figures is None:
            return
        total, used = figures
        yield GaugeMetricFamily(
            "conductor_ray_agent_slots_total",
            "Agent slots (concurrent task loops) the Ray cluster's nodes offer.",
            value=total,
        )
        yield GaugeMetricFamily(
            "conductor_ray_agent_slots_used", "Agent slots taken by running loops.", value=used
        )


_USAGE_COUNTERS = (
    ("input_tokens", "conductor_agent_input_tokens", "Input tokens (cached ones included)"),
    ("output_tokens", "conductor_agent_output_tokens", "Output tokens"),
    (
        "cached_input_tokens",
        "conductor_agent_cached_input_tokens",
        "Input tokens read from a prompt cache",
    ),
    ("cost_usd", "conductor_agent_cost_usd", "Cost in USD (the agent's own, or its pricing)"),
)


class _AgentUsage(Collector):
    """Usage counters per agent and model, summed over the run records on disk.

    Derived from the runs, not incremented on events: each run counts once, a restarted
    server (or another replica) reports the same totals, and a deleted run's figures
    leave them (which Prometheus reads as a counter reset).
    """

    def __init__(self, totals: Callable[[], dict[tuple[str, str], Usage]]) -> None:
        self._totals = totals

    def collect(self) -> Iterator[CounterMetricFamily]:
        totals = self._totals()
        for field, name, documentation in _USAGE_COUNTERS:
            family = CounterMetricFamily(
                name,
                f"{documentation} reported by runs, by agent and model.",
                labels=["agent", "model"],
            )
            for (agent, model), usage in sorted(totals.items()):
                value = getattr(usage, field)
                if value is not None:
                    family.add_metric([agent, model], value)
            yield family


class RequestCounts(Collector):
    """``conductor_http_requests_total`` by method, route template and status.

    Counted in a plain dict by the event loop's thread, the only writer (no lock on the
    request path, unlike a prometheus ``Counter`` child); read at scrape time.
    """

    def __init__(self, counts: RequestTally | None = None) -> None:
        self.counts: RequestTally = {} if counts is None else counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield _request_family(self.counts.copy())


def _request_family(counts: dict[tuple[str, str, int], int]) -> CounterMetricFamily:
    family = CounterMetricFamily(
        "conductor_http_requests",
        "HTTP requests by method, route template and status.",
        labels=["method", "route", "status"],
    )
    for (method, route, status), count in sorted(counts.items()):
        family.add_metric([method, route, str(status)], count)
    return family


def _value(metric: Counter | Gauge) -> float:
    """A counter's total or a gauge's value, through the public ``collect``."""
    for family in metric.collect():
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                return float(sample.value)
    return 0.0


_COUNTERS = {
    "bus_appends": "Messages appended to a bus through the API.",
    "sse_connections": "SSE connections accepted.",
    "tasks_launched": "run-agent task processes started by this server.",
}
_GAUGES = {
    "sse_clients": "Connected SSE clients.",
    "asyncio_tasks": "asyncio tasks alive in the server's event loop (sampled at scrape).",
    "open_fds": "Open file descriptors (sampled at scrape).",
}
_WORKERS_HELP = "Server worker processes reporting."


class _Local(Collector):
    """One process: its request counts, and one worker."""

    def __init__(self, requests: RequestCounts) -> None:
        self._requests = requests

    def collect(self) -> Iterator[Metric]:
        yield from self._requests.collect()
        yield GaugeMetricFamily("conductor_workers", _WORKERS_HELP, value=1)


class _ServerWide(Collector):
    """Every worker's counters and gauges, summed (several workers only)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterator[Metric]:
        """The names only: registering must not read the snapshots."""
        return self._families(Snapshot())

    def collect(self) -> Iterator[Metric]:
        return self._families(self._metrics.server_snapshot())

    def _families(self, total: Snapshot) -> Iterator[Metric]:
        yield _request_family(total.requests)
        for name, documentation in _COUNTERS.items():
            yield CounterMetricFamily(
                f"conductor_{name}",
                f"{documentation} Summed over the workers.",
                value=total.counters.get(name, 0),
            )
        for name, documentation in _GAUGES.items():
            yield GaugeMetricFamily(
                f"conductor_{name}",
                f"{documentation} Summed over the workers.",
                value=total.gauges.get(name, 0),
            )
        yield GaugeMetricFamily("conductor_workers", _WORKERS_HELP, value=total.workers)


class Metrics:
    """This process's counters; with ``shared_dir`` (several workers) also the server's.

    ``started`` is the server's start on the monotonic clock (the supervisor's, shared by
    its workers); by default this process's.
    """

    def __init__(
        self,
        shared_dir: Path | None = None,
        started: float | None = None,
        requests: RequestTally | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.started = time.time()
        self._started_monotonic = time.monotonic() if started is None else started
        self.shared_dir = shared_dir
        self._name = metrics_files.worker_name(os.getpid())
        self._published: Snapshot | None = None
        self.uptime = Gauge(
            "conductor_uptime_seconds", "Seconds since the server started.", registry=self.registry
        )
        self.uptime.set_function(lambda: time.monotonic() - self._started_monotonic)
        # Counted by the request context middleware, which may exist before this object.
        self.requests = RequestCounts(requests)
        # Several workers: the summing collector reports these instead of themselves.
        own = self.registry if shared_dir is None else None
        self.registry.register(
            _ServerWide(self) if shared_dir is not None else _Local(self.requests)
        )
        self.bus_appends = Counter("conductor_bus_appends", _COUNTERS["bus_appends"], registry=own)
        self.sse_clients = Gauge("conductor_sse_clients", _GAUGES["sse_clients"], registry=own)
        self.sse_connections = Counter(
            "conductor_sse_connections", _COUNTERS["sse_connections"], registry=own
        )
        self.asyncio_tasks = Gauge(
            "conductor_asyncio_tasks", _GAUGES["asyncio_tasks"], registry=own
        )
        self.open_fds = Gauge("conductor_open_fds", _GAUGES["open_fds"], registry=own)
        self.tasks_launched = Counter(
            "conductor_tasks_launched", _COUNTERS["tasks_launched"], registry=own
        )

    def track_runs(self, counts: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_RunCounts(counts))

    def track_usage(self, totals: Callable[[], dict[tuple[str, str], Usage]]) -> None:
        self.registry.register(_AgentUsage(totals))

    def track_cluster(self, slots: Callable[[], tuple[float, float] | None]) -> None:
        """Report a cluster's slot gauges (each worker its own view: never summed)."""
        self.registry.register(_ClusterSlots(slots))

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self._started_monotonic

    def sample(self) -> None:
        """Take the gauges read at scrape time (on the event loop's thread)."""
        with contextlib.suppress(RuntimeError):  # no running loop
            self.asyncio_tasks.set(len(asyncio.all_tasks()))
        with contextlib.suppress(OSError):
            self.open_fds.set(len(os.listdir("/proc/self/fd")))

    def snapshot(self) -> Snapshot:
        """This process's figures as they are now."""
        return Snapshot(
            requests=self.requests.counts.copy(),
            counters={
                "bus_appends": _value(self.bus_appends),
                "sse_connections": _value(self.sse_connections),
                "tasks_launched": _value(self.tasks_launched),
            },
            gauges={name: _value(getattr(self, name)) for name in _GAUGES},
        )

    def flush(self) -> Snapshot:
        """Sample, and publish this worker's figures to the others; returns them."""
        self.sample()
        snapshot = self.snapshot()
        if self.shared_dir is not None and snapshot != self._published:  # idle: no write
            try:
                metrics_files.write(self.shared_dir, self._name, snapshot)
            except (OSError, ConductorError) as exc:  # the server is stopping, or disk trouble
                log.debug("metrics snapshot not written: %s", exc)
            else:
                self._published = snapshot
        return snapshot

    def server_snapshot(self) -> Snapshot:
        """The whole server's figures: this worker's now, the others' last published."""
        own = self.flush()
        if self.shared_dir is None:
            own.workers = 1
            return own
        return metrics_files.read_all(self.shared_dir, own=(self._name, own))

    def sse_clients_now(self) -> int:
        """Connected SSE clients, across the workers."""
        if self.shared_dir is None:
            return int(_value(self.sse_clients))
        return int(self.server_snapshot().gauges.get("sse_clients", 0))

    def render(self) -> bytes:
        if self.shared_dir is None:
            self.sample()
        return generate_latest(self.registry)
