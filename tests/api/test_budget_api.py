"""Budgets through the API: set on create (and by ``conductor task submit``), shown in
task detail with what was spent, and a task its budget stopped reads ``stopped`` with
the reason."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conductor_loop.client.models import TaskBudget
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.usage import Usage
from tests.api.helpers import (
    VENV_BIN,
    ServerFactory,
    ServerProcess,
    seed_run,
    server_env,
    wait_task,
)
from tests.api.test_tasks import agent_config, submit

QUARTER = "FAKE: usage 1000 500 0 0.25"


@pytest.fixture
def budget_server(server_factory: ServerFactory, tmp_path: Path) -> ServerProcess:
    config = agent_config(tmp_path / "bin", max_tokens=1_000_000)
    return server_factory(config, root=RunsRoot.at(tmp_path / "runs"))


def test_a_task_created_with_a_budget_stops_at_it_and_says_why(
    budget_server: ServerProcess,
) -> None:
    client = budget_server.client()
    created = submit(client, task_id="capped", prompt=QUARTER, max_cost_usd=0.6, max_tokens=0)
    assert created.status_code == 201, created.text
    api = budget_server.api()
    view = wait_task(api, "proj", "capped", "stopped")
    assert len(view.runs) == 3
    assert view.stop_reason == "budget exceeded: cost $0.75 of $0.60"
    assert view.budget == TaskBudget(
        max_cost_usd=0.6,
        max_tokens=None,  # 0 lifted the server's default of 1,000,000 for this task
        action="finish_run",
        spent_cost_usd=0.75,
        spent_tokens=4500,
        unknown_cost_runs=0,
        exceeded=True,
    )
    listed = {t.task_id: t for t in api.tasks().tasks}
    assert (listed["capped"].status, listed["capped"].stop_reason) == ("stopped", view.stop_reason)
    messages = api.messages("proj", "capped").messages
    assert [m.type for m in messages].count("BUDGET_EXCEEDED") == 1


def test_a_task_without_its_own_budget_shows_the_servers_default(
    budget_server: ServerProcess,
) -> None:
    seed_run(budget_server.root, "proj", "seeded", usage=Usage(300, 200, 0, 0.5))
    seed_run(budget_server.root, "proj", "seeded", usage=Usage(10, 10))
    view = wait_task(budget_server.api(), "proj", "seeded", "completed")
    assert view.stop_reason is None
    assert view.budget == TaskBudget(
        max_cost_usd=None,
        max_tokens=1_000_000,
        action="finish_run",
        spent_cost_usd=0.5,
        spent_tokens=520,
        unknown_cost_runs=1,
        exceeded=False,
    )


def test_a_budget_stop_shows_as_stopped_with_its_reason(budget_server: ServerProcess) -> None:
    """What the API reads: the loop's record of how it ended (.loop.json)."""
    root = budget_server.root
    seed_run(root, "proj", "over", usage=Usage(10, 10, 0, 2.0))
    reason = "budget exceeded: cost $2.00 of $1.00"
    state = {
        "state": "exited",
        "outcome": "stopped",
        "stopped_by": "budget",
        "stop_reason": reason,
        "settings": {"max_cost_usd": 1.0},
        "budget": {"max_cost_usd": 1.0, "max_tokens": None, "action": "stop_run"},
    }
    (root.task_dir("proj", "over") / ".loop.json").write_text(json.dumps(state))
    view = wait_task(budget_server.api(), "proj", "over", "stopped", timeout=10)
    assert view.stop_reason == reason
    assert (view.budget.max_cost_usd, view.budget.action) == (1.0, "stop_run")
    assert view.budget.exceeded is True


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_cost_usd", -0.01), ("max_tokens", -1), ("max_tokens", 1.5), ("budget_action", "kill")],
)
def test_bad_budget_fields_are_refused_naming_the_field(
    budget_server: ServerProcess, field: str, value: object
) -> None:
    response = submit(budget_server.client(), task_id="bad", prompt=QUARTER, **{field: value})
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["message"]
    assert not budget_server.root.task_dir("proj", "bad").exists()


def test_conductor_task_submit_passes_the_budget(budget_server: ServerProcess) -> None:
    submitted = subprocess.run(
        [
            str(VENV_BIN / "conductor"),
            "task",
            "submit",
            "--server",
            budget_server.url,
            "--project",
            "proj",
            "--task",
            "cli",
            "--prompt",
            QUARTER,
            "--max-tokens",
            "2500",
            "--budget-action",
            "stop_run",
        ],
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert submitted.returncode == 0, submitted.stderr
    view = wait_task(budget_server.api(), "proj", "cli", "stopped")
    assert view.stop_reason == "budget exceeded: 3,000 tokens of 2,500"
    assert (view.budget.max_tokens, view.budget.action) == (2500, "stop_run")
    assert len(view.runs) == 2
