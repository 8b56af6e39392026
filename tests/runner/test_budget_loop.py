"""Budgets in the Ralph loop, end to end with real processes: the loop starts no run once
its task's runs reach the budget, says why once on the bus (also across restarts and
adoption), and with ``budget_action: stop_run`` stops a run that is going."""

from __future__ import annotations

import json
from pathlib import Path

from conductor_loop.bus.message import Message
from conductor_loop.bus.reader import read_all
from conductor_loop.runner.task_loop import LOOP_STATE_FILE, read_loop_state
from tests.runner.conftest import RunnerEnv, write_config

EXIT_BUDGET = 3
# Each run: 1000 tokens in, 500 out, $0.25 (as claude reports it), and no DONE.
QUARTER = "FAKE: usage 1000 500 0 0.25"


def _budget_messages(rig: RunnerEnv, task: str = "t") -> list[Message]:
    return [m for m in read_all(rig.root.task_bus("p", task)) if m.type == "BUDGET_EXCEEDED"]


def _task(rig: RunnerEnv, *args: str, task: str = "t", prompt: str = QUARTER) -> tuple[int, str]:
    done = rig.run("task", "--project", "p", "--task", task, "--prompt", prompt, *args)
    return done.returncode, done.stderr


def test_the_loop_stops_after_the_run_that_reaches_the_cost_budget(rig: RunnerEnv) -> None:
    code, err = _task(rig, "--max-cost", "0.6")
    assert code == EXIT_BUDGET, err
    assert "budget exceeded: cost $0.75 of $0.60" in err
    runs = rig.runs("p", "t")
    assert [r.status for r in runs] == ["completed"] * 3  # $0.25, $0.50, then $0.75: stop
    (message,) = _budget_messages(rig)
    assert message.meta["max_cost_usd"] == "0.6" and message.meta["spent_cost_usd"] == "0.75"
    assert message.meta["spent_tokens"] == "4500" and message.meta["max_tokens"] == ""
    assert message.meta["exceeded"] == "true" and message.run_id == runs[-1].run_id
    assert "budget exceeded: cost $0.75 of $0.60" in message.body
    assert "3 run(s)" in message.body
    state = read_loop_state(rig.root.task_dir("p", "t"))
    assert state["state"] == "exited" and state["outcome"] == "stopped"
    assert state["stopped_by"] == "budget"
    assert state["stop_reason"].startswith("budget exceeded: cost $0.75 of $0.60")
    assert state["budget"] == {"max_cost_usd": 0.6, "max_tokens": None, "action": "finish_run"}

    # Started again (an existing task needs --resume), the loop finds the budget spent:
    # no run, and no second message.
    done = rig.run("task", "--project", "p", "--task", "t", "--resume", "--max-cost", "0.6")
    code, err = done.returncode, done.stderr
    assert code == EXIT_BUDGET and "budget exceeded" in err
    assert len(rig.runs("p", "t")) == 3
    assert len(_budget_messages(rig)) == 1


def test_an_adopted_loop_keeps_the_budget_and_posts_no_second_message(rig: RunnerEnv) -> None:
    code, err = _task(rig, "--max-cost", "0.6")
    assert code == EXIT_BUDGET, err
    # As if the runner had died after posting BUDGET_EXCEEDED, before recording its end.
    state_file = rig.root.task_dir("p", "t") / LOOP_STATE_FILE
    state = json.loads(state_file.read_text())
    state["state"] = "running"
    state_file.write_text(json.dumps(state))
    adopted = rig.run("task", "--project", "p", "--task", "t", "--adopt")
    assert adopted.returncode == EXIT_BUDGET, adopted.stderr
    assert len(rig.runs("p", "t")) == 3, "the saved budget must still apply"
    assert len(_budget_messages(rig)) == 1
    assert read_loop_state(rig.root.task_dir("p", "t"))["state"] == "exited"


def test_a_resumed_task_keeps_its_budget_unless_given_another(rig: RunnerEnv) -> None:
    code, err = _task(rig, "--max-cost", "0.6")
    assert code == EXIT_BUDGET, err
    resumed = rig.run("task", "resume", "--project", "p", "--task", "t")
    assert resumed.returncode == EXIT_BUDGET, resumed.stderr
    assert len(rig.runs("p", "t")) == 3 and len(_budget_messages(rig)) == 1
    raised = rig.run("task", "resume", "--project", "p", "--task", "t", "--max-cost", "0.9")
    assert raised.returncode == EXIT_BUDGET, raised.stderr
    assert "budget exceeded: cost $1.00 of $0.90" in raised.stderr
    assert len(rig.runs("p", "t")) == 4
    assert [m.meta["max_cost_usd"] for m in _budget_messages(rig)] == ["0.6", "0.9"]


def test_the_token_budget_counts_input_and_output(rig: RunnerEnv) -> None:
    code, err = _task(rig, "--max-tokens", "2500", prompt="FAKE: usage 600 400 300")
    assert code == EXIT_BUDGET, err
    assert "budget exceeded: 3,000 tokens of 2,500" in err
    assert len(rig.runs("p", "t")) == 3  # 1000, 2000, 3000 tokens (cached ones inside)
    (message,) = _budget_messages(rig)
    assert message.meta["spent_tokens"] == "3000" and message.meta["max_tokens"] == "2500"


def test_a_task_setting_beats_the_default_budget(rig: RunnerEnv) -> None:
    write_config(rig.config_path, rig.bin_dir, max_cost_usd=0.3)
    code, _ = _task(rig, task="by-default")
    assert code == EXIT_BUDGET and len(rig.runs("p", "by-default")) == 2
    code, _ = _task(rig, "--max-cost", "0.6", task="own")
    assert code == EXIT_BUDGET and len(rig.runs("p", "own")) == 3
    code, err = _task(rig, "--max-cost", "0", "--max-restarts", "3", task="unlimited")
    assert code == 1 and "did not finish after 3 restarts" in err, err
    assert len(rig.runs("p", "unlimited")) == 4 and _budget_messages(rig, "unlimited") == []


def test_runs_without_a_known_cost_count_as_zero_and_are_named(rig: RunnerEnv) -> None:
    # codex reports tokens but no cost, and has no pricing here.
    code, err = _task(
        rig,
        "--agent",
        "codex",
        "--max-cost",
        "1",
        "--max-tokens",
        "2500",
        prompt="FAKE: usage 600 400",
    )
    assert code == EXIT_BUDGET, err
    assert "3 runs without a known cost counted as $0" in err
    warnings = [
        m
        for m in read_all(rig.root.task_bus("p", "t"))
        if m.meta.get("kind") == "budget_unknown_cost"
    ]
    assert len(warnings) == 1 and warnings[0].type == "WARNING"
    assert "counts as $0" in warnings[0].body
    (message,) = _budget_messages(rig)
    assert message.meta["unknown_cost_runs"] == "3"


def test_negative_budgets_are_refused(rig: RunnerEnv) -> None:
    for option, value in (("--max-cost", "-1"), ("--max-tokens", "-1"), ("--max-cost", "nan")):
        code, err = _task(rig, option, value)
        assert code == 2 and option in err, err
    assert rig.root.run_ids("p", "t") == []


# A child run that reports $5 and ends while the root run waits for a gate file.
def _spender_prompt(gate: Path) -> str:
    return (
        "FAKE@1: run run-agent job --prompt 'FAKE: usage 10 10 0 5'\n"
        f"FAKE@1: wait-file {gate} 60\n"
        "FAKE: usage 10 10 0 0.01"
    )


def test_stop_run_stops_the_running_root_when_a_child_reaches_the_budget(
    rig: RunnerEnv, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"  # never created: only a stop ends the root run
    code, err = _task(
        rig, "--max-cost", "1", "--budget-action", "stop_run", prompt=_spender_prompt(gate)
    )
    assert code == EXIT_BUDGET, err
    runs = rig.runs("p", "t")
    roots = [r for r in runs if not r.parent_run_id]
    (child,) = [r for r in runs if r.parent_run_id]
    assert child.status == "completed"
    assert len(roots) == 1 and roots[0].status == "stopped"
    assert "budget exceeded: cost $5." in roots[0].error_summary
    (message,) = _budget_messages(rig)
    assert message.meta["action"] == "stop_run" and message.run_id == child.run_id
    assert "budget exceeded" in read_loop_state(rig.root.task_dir("p", "t"))["stop_reason"]


def test_by_default_a_running_run_is_not_stopped(rig: RunnerEnv, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    prompt = _spender_prompt(gate).replace(f"wait-file {gate} 60", "sleep 1.5")
    code, err = _task(rig, "--max-cost", "1", prompt=prompt)
    assert code == EXIT_BUDGET, err
    runs = rig.runs("p", "t")
    roots = [r for r in runs if not r.parent_run_id]
    assert len(roots) == 1 and roots[0].status == "completed"  # it ran to its end
    assert len(_budget_messages(rig)) == 1
