"""Budgets: the config keys, what a task's runs have spent, and when that is too much."""

from __future__ import annotations

import pytest

from conductor_loop.config import parse_config
from conductor_loop.config.models import DefaultsConfig
from conductor_loop.errors import ConfigError
from conductor_loop.runner.budget import Budget, BudgetState, crossing_run, spent
from conductor_loop.storage.runinfo import RunInfo
from conductor_loop.storage.usage import Usage


def test_defaults_have_no_budget() -> None:
    defaults = parse_config("").defaults
    assert defaults.max_cost_usd is None and defaults.max_tokens is None
    assert defaults.budget_action == "finish_run"
    assert not Budget.of(defaults).limited


def test_budget_keys_in_the_config() -> None:
    text = "defaults:\n  max_cost_usd: 2.5\n  max_tokens: 100000\n  budget_action: stop_run\n"
    defaults = parse_config(text).defaults
    assert (defaults.max_cost_usd, defaults.max_tokens) == (2.5, 100_000)
    assert defaults.budget_action == "stop_run"


@pytest.mark.parametrize(
    ("text", "key_path"),
    [
        ("defaults:\n  max_cost_usd: -1\n", "defaults.max_cost_usd"),
        ("defaults:\n  max_cost_usd: lots\n", "defaults.max_cost_usd"),
        ("defaults:\n  max_tokens: -5\n", "defaults.max_tokens"),
        ("defaults:\n  max_tokens: 1.5\n", "defaults.max_tokens"),
        ("defaults:\n  budget_action: kill\n", "defaults.budget_action"),
    ],
)
def test_bad_budget_values_name_the_key(text: str, key_path: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "my.yaml")
    assert f"  {key_path}: " in str(info.value)


def test_a_task_setting_beats_the_default_and_zero_means_no_budget() -> None:
    defaults = DefaultsConfig(max_cost_usd=5.0, max_tokens=1000, budget_action="stop_run")
    assert Budget.of(defaults) == Budget(5.0, 1000, "stop_run")
    assert Budget.of(defaults, max_cost_usd=1.0, action="finish_run") == Budget(1.0, 1000)
    assert Budget.of(defaults, max_cost_usd=0, max_tokens=0) == Budget(None, None, "stop_run")
    assert not Budget.of(defaults, max_cost_usd=0, max_tokens=0).limited


def _run(run_id: str, usage: Usage | None, *, status: str = "completed", pid: int = 7) -> RunInfo:
    return RunInfo(run_id=run_id, project_id="p", task_id="t", status=status, pid=pid, usage=usage)


def test_spent_counts_input_and_output_tokens_and_known_costs() -> None:
    runs = [
        _run("a", Usage(1000, 200, 800, 0.25)),  # cached input is part of the input
        _run("b", Usage(500, 100)),  # tokens, no cost: counted as $0, and named
        _run("c", None, status="failed"),  # cut off before its final event: nothing known
        _run("d", None, status="failed", pid=0),  # the agent never started: costs nothing
        _run("e", None, status="running"),  # not ended: nothing known yet
        _run("f", Usage(cost_usd=0.5)),
    ]
    total = spent(runs)
    assert total.tokens == 1800
    assert total.cost_usd == pytest.approx(0.75)
    assert total.unknown_cost == ("b", "c")


def test_reaching_a_limit_exceeds_it() -> None:
    runs = [_run(str(i), Usage(60, 40, cost_usd=0.1)) for i in range(3)]
    cost = BudgetState(Budget(max_cost_usd=0.3), spent(runs))  # 0.1 * 3 in floating point
    assert cost.exceeded and cost.cost_exceeded and not cost.tokens_exceeded
    assert not BudgetState(Budget(max_cost_usd=0.31), spent(runs)).exceeded
    tokens = BudgetState(Budget(max_tokens=300), spent(runs))
    assert tokens.exceeded and tokens.tokens_exceeded and not tokens.cost_exceeded
    assert not BudgetState(Budget(max_tokens=301), spent(runs)).exceeded
    assert not BudgetState(Budget(), spent(runs)).exceeded


def test_the_reason_gives_the_figures_and_runs_of_unknown_cost() -> None:
    runs = [_run("a", Usage(1000, 500, cost_usd=1.25)), _run("b", Usage(10, 10))]
    state = BudgetState(Budget(max_cost_usd=1.0, max_tokens=100_000), spent(runs))
    assert state.reason() == (
        "budget exceeded: cost $1.25 of $1.00 (1 run without a known cost counted as $0: b)"
    )
    tokens = BudgetState(Budget(max_tokens=1000), spent(runs))
    assert tokens.reason() == "budget exceeded: 1,520 tokens of 1,000"


def test_api_figures() -> None:
    state = BudgetState(Budget(2.0, None, "stop_run"), spent([_run("a", Usage(3, 4, 0, 0.5))]))
    assert state.figures() == {
        "max_cost_usd": 2.0,
        "max_tokens": None,
        "action": "stop_run",
        "spent_cost_usd": 0.5,
        "spent_tokens": 7,
        "unknown_cost_runs": 0,
        "exceeded": False,
    }


def test_budget_round_trips_through_json_and_tolerates_junk() -> None:
    budget = Budget(1.5, 20, "stop_run")
    assert Budget.from_json(budget.to_json()) == budget
    assert Budget.from_json({"max_cost_usd": "x", "max_tokens": -3, "action": 5}) == Budget()
    assert Budget.from_json("nonsense") is None


def test_the_crossing_run_is_the_one_whose_end_reached_the_budget() -> None:
    def ended(run_id: str, end: str, cost: float) -> RunInfo:
        info = _run(run_id, Usage(cost_usd=cost))
        info.end_time = end
        return info

    runs = [ended("a", "2026-01-01T00:00:03Z", 0.5), ended("b", "2026-01-01T00:00:01Z", 0.4)]
    runs.append(_run("c", None, status="running"))
    assert crossing_run(Budget(max_cost_usd=0.8), runs) == "a"  # b ended first: 0.4, then 0.9
    assert crossing_run(Budget(max_cost_usd=0.3), runs) == "b"
    assert crossing_run(Budget(max_cost_usd=1.0), runs) == ""
