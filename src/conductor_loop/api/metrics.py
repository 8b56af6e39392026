"""Prometheus metrics on the server's own registry (never the process-global one)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from conductor_loop.storage.usage import Usage

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

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "conductor_http_requests",
            "HTTP requests by method, route template and status.",
            labels=["method", "route", "status"],
        )
        for (method, route, status), count in sorted(self.counts.copy().items()):
            family.add_metric([method, route, str(status)], count)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.started = time.time()
        self._started_monotonic = time.monotonic()
        self.uptime = Gauge(
            "conductor_uptime_seconds", "Seconds since the server started.", registry=self.registry
        )
        self.uptime.set_function(lambda: time.monotonic() - self._started_monotonic)
        self.requests = RequestCounts()
        self.registry.register(self.requests)
        self.bus_appends = Counter(
            "conductor_bus_appends",
            "Messages appended to a bus through the API.",
            registry=self.registry,
        )
        self.sse_clients = Gauge(
            "conductor_sse_clients", "Connected SSE clients.", registry=self.registry
        )
        self.sse_connections = Counter(
            "conductor_sse_connections", "SSE connections accepted.", registry=self.registry
        )
        self.asyncio_tasks = Gauge(
            "conductor_asyncio_tasks",
            "asyncio tasks alive in the server's event loop (sampled at scrape).",
            registry=self.registry,
        )
        self.open_fds = Gauge(
            "conductor_open_fds",
            "Open file descriptors (sampled at scrape).",
            registry=self.registry,
        )
        self.tasks_launched = Counter(
            "conductor_tasks_launched",
            "run-agent task processes started by this server.",
            registry=self.registry,
        )

    def track_runs(self, counts: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_RunCounts(counts))

    def track_usage(self, totals: Callable[[], dict[tuple[str, str], Usage]]) -> None:
        self.registry.register(_AgentUsage(totals))

    def observe_request(self, method: str, route: str, status: int) -> None:
        key = (method, route, status)
        counts = self.requests.counts
        counts[key] = counts.get(key, 0) + 1

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self._started_monotonic

    def render(self) -> bytes:
        return generate_latest(self.registry)
