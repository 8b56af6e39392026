"""/metrics with ``executor: ray``: the cluster's agent slots, as the executor last saw
them, never waiting for the cluster during a scrape."""

from __future__ import annotations

import threading

import pytest

from conductor_loop.api.metrics import Metrics
from conductor_loop.config.models import ExecutorConfig
from conductor_loop.orchestration.executors.ray import RayExecutor
from tests.support import wait_until


def _gauges(metrics: Metrics) -> dict[str, float]:
    found = {}
    for line in metrics.render().decode().splitlines():
        if line.startswith("conductor_ray_agent_slots"):
            name, value = line.split()
            found[name] = float(value)
    return found


def test_slot_gauges_appear_once_known() -> None:
    figures: list[tuple[float, float] | None] = [None]
    metrics = Metrics()
    metrics.track_cluster(lambda: figures[0])
    assert _gauges(metrics) == {}  # not known yet: no figure rather than a wrong one
    figures[0] = (8.0, 3.0)
    assert _gauges(metrics) == {
        "conductor_ray_agent_slots_total": 8.0,
        "conductor_ray_agent_slots_used": 3.0,
    }


class _SlowCluster(RayExecutor):
    """A cluster that takes its time to answer, and counts the questions."""

    def __init__(self) -> None:
        super().__init__(ExecutorConfig(type="ray"))
        self.asked = 0
        self.answer = threading.Event()

    def slots(self) -> tuple[float, float]:
        self.asked += 1
        self.answer.wait(30)
        return 4.0, float(self.asked)


def test_a_scrape_never_waits_for_the_cluster_and_reuses_recent_figures() -> None:
    executor = _SlowCluster()
    # The cluster has not answered: a scrape that waited would get its figures.
    assert executor.cluster_slots() is None
    assert executor.cluster_slots() is None  # asked once, still waiting: not asked again
    executor.answer.set()
    assert wait_until(executor.cluster_slots, 10, "the figures") == (4.0, 1.0)
    assert executor.cluster_slots() == (4.0, 1.0)  # recent: reused
    assert executor.asked == 1


class _HangingRay:
    """A ``ray`` module whose ``init`` waits until let go (a cluster slow to answer)."""

    def __init__(self) -> None:
        self.connecting = threading.Event()
        self.release = threading.Event()

    def is_initialized(self) -> bool:
        return self.release.is_set()

    def init(self, **_options: object) -> None:
        self.connecting.set()
        self.release.wait(30)

    def remote(self, cls: type) -> type:
        return cls

    def cluster_resources(self) -> dict[str, float]:
        return {"agent_slots": 2.0}

    def available_resources(self) -> dict[str, float]:
        return {"agent_slots": 2.0}


def test_a_scrape_never_waits_for_a_connection_in_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from conductor_loop.orchestration.executors import ray as ray_executor

    fake = _HangingRay()
    monkeypatch.setattr(ray_executor, "import_ray", lambda: fake)
    executor = RayExecutor(ExecutorConfig(type="ray"))
    assert executor.cluster_slots() is None  # starts connecting in the background
    assert fake.connecting.wait(10)
    answers: list[object] = []
    scrape = threading.Thread(target=lambda: answers.append(executor.cluster_slots()))
    scrape.start()
    scrape.join(10)
    try:
        assert not scrape.is_alive(), "a scrape waited for the connection"
        assert answers == [None]
    finally:
        fake.release.set()
    assert wait_until(executor.cluster_slots, 10, "the figures") == (2.0, 0.0)
