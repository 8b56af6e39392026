"""Token and cost figures through the API: per run, task totals, project stats, and
/metrics counters per agent and model that count each run once, across restarts too."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.usage import Usage
from tests.api.helpers import ServerFactory, ServerProcess, seed_run
from tests.support import wait_until

OPUS = Usage(input_tokens=1200, output_tokens=50, cached_input_tokens=1000, cost_usd=0.0123)


def _seed(root: RunsRoot) -> dict[str, Path]:
    runs = {
        "opus": seed_run(root, "p", "t1", backend_model="claude-opus", usage=OPUS),
        "opus2": seed_run(
            root, "p", "t1", backend_model="claude-opus", usage=Usage(300, 20, 0, 0.002)
        ),
        "none": seed_run(root, "p", "t1", backend_model="claude-opus"),
        "codex": seed_run(
            root, "p", "t2", agent="codex", backend_model="gpt-5.5", usage=Usage(100, 10)
        ),
        "other": seed_run(root, "q", "t9", backend_model="claude-opus", usage=Usage(1, 1, 0, 1.0)),
    }
    return runs


@pytest.fixture
def usage_server(tmp_path: Path, server_factory: ServerFactory) -> ServerProcess:
    root = RunsRoot.at(tmp_path / "runs")
    _seed(root)
    return server_factory(root=root)


def _run_id(server: ServerProcess, project: str, task: str, index: int) -> str:
    return server.root.run_ids(project, task)[index]


def test_a_run_shows_its_usage_and_null_when_none_is_known(usage_server: ServerProcess) -> None:
    client = usage_server.client()
    opus = _run_id(usage_server, "p", "t1", 0)
    expected = {
        "input_tokens": 1200,
        "output_tokens": 50,
        "cached_input_tokens": 1000,
        "cost_usd": 0.0123,
    }
    assert client.get(f"/api/v1/runs/{opus}").json()["usage"] == expected
    assert client.get(f"/api/projects/p/tasks/t1/runs/{opus}").json()["usage"] == expected
    codex = _run_id(usage_server, "p", "t2", 0)
    assert client.get(f"/api/v1/runs/{codex}").json()["usage"] == {
        "input_tokens": 100,
        "output_tokens": 10,
        "cached_input_tokens": None,
        "cost_usd": None,
    }
    none = _run_id(usage_server, "p", "t1", 2)
    assert client.get(f"/api/v1/runs/{none}").json()["usage"] is None
    listed = client.get("/api/v1/runs", params={"project_id": "p", "task_id": "t1"}).json()
    assert [r["usage"] for r in listed["runs"]][::-1][0] == expected


def test_task_detail_and_list_give_the_tasks_total(usage_server: ServerProcess) -> None:
    client = usage_server.client()
    total = {
        "input_tokens": 1500,
        "output_tokens": 70,
        "cached_input_tokens": 1000,
        "cost_usd": pytest.approx(0.0143),
        "runs": 2,  # of its 3 runs, 2 reported usage
    }
    assert client.get("/api/projects/p/tasks/t1").json()["usage"] == total
    assert client.get("/api/v1/tasks/t1").json()["usage"] == total
    tasks = {t["task_id"]: t for t in client.get("/api/projects/p/tasks").json()["tasks"]}
    assert tasks["t1"]["usage"] == total
    assert tasks["t2"]["usage"] == {
        "input_tokens": 100,
        "output_tokens": 10,
        "cached_input_tokens": None,
        "cost_usd": None,
        "runs": 1,
    }


def test_project_stats_give_the_projects_total(usage_server: ServerProcess) -> None:
    stats = usage_server.client().get("/api/projects/p/stats").json()
    assert stats["usage"] == {
        "input_tokens": 1600,
        "output_tokens": 80,
        "cached_input_tokens": 1000,
        "cost_usd": pytest.approx(0.0143),
        "runs": 3,
    }


_SAMPLE = re.compile(r'^(conductor_agent_\w+)\{agent="([^"]*)",model="([^"]*)"\} (\S+)$', re.M)


def _usage_metrics(client: httpx.Client) -> dict[tuple[str, str, str], float]:
    text = client.get("/metrics").text
    return {(name, agent, model): float(v) for name, agent, model, v in _SAMPLE.findall(text)}


def test_metrics_count_usage_per_agent_and_model(usage_server: ServerProcess) -> None:
    metrics = _usage_metrics(usage_server.client())
    assert metrics == {
        ("conductor_agent_input_tokens_total", "claude", "claude-opus"): 1501,
        ("conductor_agent_output_tokens_total", "claude", "claude-opus"): 71,
        ("conductor_agent_cached_input_tokens_total", "claude", "claude-opus"): 1000,
        ("conductor_agent_cost_usd_total", "claude", "claude-opus"): pytest.approx(1.0143),
        ("conductor_agent_input_tokens_total", "codex", "gpt-5.5"): 100,
        ("conductor_agent_output_tokens_total", "codex", "gpt-5.5"): 10,
    }


def test_metrics_count_each_run_once_across_restarts_and_take_new_runs(
    tmp_path: Path, server_factory: ServerFactory
) -> None:
    root = RunsRoot.at(tmp_path / "runs")
    _seed(root)
    first = server_factory(root=root)
    before = _usage_metrics(first.client())
    first.stop()
    second = server_factory(root=root)
    client = second.client()
    assert _usage_metrics(client) == before
    seed_run(root, "p", "t3", agent="codex", backend_model="gpt-5.5", usage=Usage(5, 1, 2))
    key = ("conductor_agent_input_tokens_total", "codex", "gpt-5.5")
    wait_until(lambda: _usage_metrics(client).get(key) == 105, 10, "the new run to count")
    assert _usage_metrics(client)[("conductor_agent_cached_input_tokens_total", *key[1:])] == 2
