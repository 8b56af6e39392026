"""`run-agent task`: the Ralph loop, end to end with real processes (the plan's
acceptance scenarios plus crash, stop, resume and restart limits)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from conductor_loop.bus.reader import read_all
from conductor_loop.storage.runinfo import read_run_info
from tests.runner.conftest import RunnerEnv, agent_pid
from tests.support import wait_until

SECOND_TIME_DONE = (
    'FAKE: run if [ -f "$JRUN_TASK_FOLDER/seen" ]; then touch "$JRUN_TASK_FOLDER/DONE"; '
    'else touch "$JRUN_TASK_FOLDER/seen"; fi'
)


def _facts(rig: RunnerEnv, project: str = "p") -> list[str]:
    return [m.body for m in read_all(rig.root.project_bus(project)) if m.type == "FACT"]


def test_scenario_1_one_agent_completes_a_task(rig: RunnerEnv) -> None:
    done = rig.run(
        "task",
        "--project",
        "p",
        "--task",
        "t",
        "--prompt",
        "FAKE: write-done\nFAKE: answer all done",
    )
    assert done.returncode == 0, done.stderr
    runs = rig.runs("p", "t")
    assert [r.status for r in runs] == ["completed"]
    assert (rig.root.task_dir("p", "t") / "TASK.md").read_text().startswith("FAKE: write-done")
    assert len(_facts(rig)) == 1 and "t" in _facts(rig)[0]


def test_two_iterations_chain_with_restart_prefix(rig: RunnerEnv) -> None:
    done = rig.run("task", "--project", "p", "--task", "t", "--prompt", SECOND_TIME_DONE)
    assert done.returncode == 0, done.stderr
    first, second = rig.runs("p", "t")
    assert first.previous_run_id == "" and second.previous_run_id == first.run_id
    assert first.parent_run_id == second.parent_run_id == ""
    second_prompt = Path(second.prompt_path).read_text()
    assert "Continue working on the following:\n\n" + SECOND_TIME_DONE in second_prompt
    assert "Continue working" not in Path(first.prompt_path).read_text()


def test_scenario_2_root_spawns_three_children(rig: RunnerEnv) -> None:
    prompt = (
        "FAKE: run for i in 1 2 3; do "
        'run-agent job --agent codex --prompt "FAKE: answer child $i" & done; wait\n'
        "FAKE: write-done"
    )
    done = rig.run("task", "--project", "p", "--task", "t", "--prompt", prompt)
    assert done.returncode == 0, done.stderr
    runs = rig.runs("p", "t")
    roots = [r for r in runs if not r.parent_run_id]
    children = [r for r in runs if r.parent_run_id]
    assert len(roots) == 1 and len(children) == 3
    assert {c.parent_run_id for c in children} == {roots[0].run_id}
    assert all(r.status == "completed" for r in runs)
    assert {c.agent for c in children} == {"codex"}
    outputs = sorted(Path(c.output_path).read_text().strip() for c in children)
    assert outputs == ["child 1", "child 2", "child 3"]


def test_scenario_3_done_while_children_run_waits_without_restart(rig: RunnerEnv) -> None:
    prompt = (
        'FAKE: run (run-agent job --prompt "FAKE: sleep 2" >/dev/null 2>&1 &); '
        'while [ "$(ls "$JRUN_TASK_FOLDER/runs" | wc -l)" -lt 2 ]; do sleep 0.05; done\n'
        "FAKE: write-done"
    )
    done = rig.run(
        "task",
        "--project",
        "p",
        "--task",
        "t",
        "--prompt",
        prompt,
        "--child-poll-interval",
        "100ms",
    )
    assert done.returncode == 0, done.stderr
    runs = rig.runs("p", "t")
    roots = [r for r in runs if not r.parent_run_id]
    (child,) = [r for r in runs if r.parent_run_id]
    assert len(roots) == 1, "the root must not be restarted while children finish"
    assert child.status == "completed"
    fact_msgs = [m for m in read_all(rig.root.project_bus("p")) if m.type == "FACT"]
    assert len(fact_msgs) == 1
    assert fact_msgs[0].ts >= child.end_time[:19]


def test_scenario_4_five_agents_post_concurrently_and_lose_nothing(rig: RunnerEnv) -> None:
    prompt = (
        "FAKE: run for i in $(seq 20); do "
        'run-agent bus post --type PROGRESS --body "$JRUN_ID $i" >/dev/null; done'
    )
    procs = [
        rig.start("job", "--project", "p", "--task", "t", "--prompt", prompt) for _ in range(5)
    ]
    for proc in procs:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    messages = read_all(rig.root.task_bus("p", "t"))
    progress = [m for m in messages if m.type == "PROGRESS"]
    assert len(progress) == 100
    assert len({m.msg_id for m in messages}) == len(messages) == 110
    for info in rig.runs("p", "t"):
        bodies = {m.body for m in progress if m.run_id == info.run_id}
        assert bodies == {f"{info.run_id} {i}" for i in range(1, 21)}


def test_scenario_5_child_wait_timeout_warns_and_completes(rig: RunnerEnv) -> None:
    prompt = (
        'FAKE: run (run-agent job --prompt "FAKE: sleep 600" >/dev/null 2>&1 &); '
        'while [ "$(ls "$JRUN_TASK_FOLDER/runs" | wc -l)" -lt 2 ]; do sleep 0.05; done\n'
        "FAKE: write-done"
    )
    done = rig.run(
        "task", "--project", "p", "--task", "t", "--prompt", prompt, "--child-wait-timeout", "1s"
    )
    try:
        assert done.returncode == 0, done.stderr
        # The task completed while its child was still running: it did not wait for it.
        children = [info for info in rig.runs("p", "t") if info.parent_run_id]
        assert len(children) == 1 and children[0].status == "running"
        warnings = [m for m in read_all(rig.root.task_bus("p", "t")) if m.type == "WARNING"]
        assert len(warnings) == 1 and "child" in warnings[0].body
        assert children[0].run_id in warnings[0].body
        assert len(_facts(rig)) == 1
    finally:
        rig.run("stop", "--project", "p", "--task", "t", "--force")


def test_sigkill_of_the_agent_is_a_crash_and_the_loop_restarts(rig: RunnerEnv) -> None:
    prompt = (
        'FAKE: run test -f "$JRUN_TASK_FOLDER/seen" && touch "$JRUN_TASK_FOLDER/DONE"; '
        'touch "$JRUN_TASK_FOLDER/seen"\n'
        "FAKE: exit-if-done\n"
        "FAKE: sleep 60"
    )
    proc = rig.start("task", "--project", "p", "--task", "t", "--prompt", prompt)
    seen = rig.root.task_dir("p", "t") / "seen"
    wait_until(seen.exists, 20, "first run to start")
    first_dir = rig.root.run_dir("p", "t", rig.root.run_ids("p", "t")[0])
    wait_until(lambda: agent_pid(first_dir) > 0, 10, "agent pid")
    os.kill(read_run_info(first_dir).pid, signal.SIGKILL)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    runs = rig.runs("p", "t")
    assert len(runs) == 2
    assert runs[0].status == "failed" and runs[0].exit_code == 128 + signal.SIGKILL
    assert runs[1].status == "completed" and runs[1].previous_run_id == runs[0].run_id
    assert rig.task_bus_types("p", "t").count("RUN_CRASH") == 1


def test_max_restarts_ends_the_loop(rig: RunnerEnv) -> None:
    done = rig.run(
        "task",
        "--project",
        "p",
        "--task",
        "t",
        "--prompt",
        "FAKE: answer not yet",
        "--max-restarts",
        "1",
    )
    assert done.returncode == 1
    assert len(rig.runs("p", "t")) == 2
    assert "ERROR" in rig.task_bus_types("p", "t")


def test_completion_fact_is_posted_once(rig: RunnerEnv) -> None:
    assert (
        rig.run("task", "--project", "p", "--task", "t", "--prompt", "FAKE: write-done").returncode
        == 0
    )
    # A loop that died after completing (its state still says running) is adopted: the
    # adopting loop finds DONE and completes again, without a second FACT.
    state_file = rig.root.task_dir("p", "t") / ".loop.json"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps(dict(state, state="running")))
    again = rig.run("task", "--project", "p", "--task", "t", "--adopt")
    assert again.returncode == 0, again.stderr
    assert "completed" in again.stderr
    assert len(rig.runs("p", "t")) == 1
    assert len(_facts(rig)) == 1


def test_empty_or_missing_prompt_is_a_clear_error(rig: RunnerEnv) -> None:
    empty = rig.run("task", "--project", "p", "--task", "t", "--prompt", "  \n")
    assert empty.returncode != 0 and "empty" in empty.stderr
    missing = rig.run("task", "--project", "p", "--task", "t2")
    assert missing.returncode != 0 and "TASK.md" in missing.stderr
    assert not rig.root.run_ids("p", "t") and not rig.root.run_ids("p", "t2")


def test_stop_task_ends_the_loop_and_resume_continues(rig: RunnerEnv) -> None:
    prompt = (
        'FAKE: run test -f "$JRUN_TASK_FOLDER/go" && touch "$JRUN_TASK_FOLDER/DONE"; true\n'
        "FAKE: exit-if-done\n"
        "FAKE: sleep 60"
    )
    proc = rig.start("task", "--project", "p", "--task", "t", "--prompt", prompt)
    wait_until(lambda: rig.root.run_ids("p", "t"), 20, "first run")
    first_dir = rig.root.run_dir("p", "t", rig.root.run_ids("p", "t")[0])
    wait_until(lambda: agent_pid(first_dir) > 0, 10, "agent pid")
    stopped = rig.run("stop", "--project", "p", "--task", "t")
    assert stopped.returncode == 0, stopped.stderr
    proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert [r.status for r in rig.runs("p", "t")] == ["stopped"]
    # resume: this time the agent finds "go", writes DONE and exits at once
    (rig.root.task_dir("p", "t") / "go").touch()
    resumed = rig.run("resume", "--project", "p", "--task", "t")
    assert resumed.returncode == 0, resumed.stderr
    runs = rig.runs("p", "t")
    assert len(runs) == 2 and runs[1].previous_run_id == runs[0].run_id
    assert "Continue working on the following" in Path(runs[1].prompt_path).read_text()


def test_one_loop_per_task(rig: RunnerEnv) -> None:
    proc = rig.start("task", "--project", "p", "--task", "t", "--prompt", "FAKE: sleep 60")
    wait_until(lambda: rig.root.run_ids("p", "t"), 20, "first run")
    second = rig.run("task", "--project", "p", "--task", "t")
    assert second.returncode != 0 and "already" in second.stderr
    rig.run("stop", "--project", "p", "--task", "t", "--force")
    proc.communicate(timeout=30)


def test_an_agent_that_cannot_start_ends_the_loop_at_once(rig: RunnerEnv) -> None:
    rig.config_path.write_text(
        rig.config_path.read_text().replace(str(rig.bin_dir / "claude"), "/nonexistent/claude")
    )
    done = rig.run("task", "--project", "p", "--task", "t", "--prompt", "x")
    assert done.returncode == 1
    (run,) = rig.runs("p", "t")
    assert run.status == "failed" and run.exit_code == 127
    assert "/nonexistent/claude" in run.error_summary
    errors = [m.body for m in read_all(rig.root.task_bus("p", "t")) if m.type == "ERROR"]
    assert errors and "giving up" in errors[0]
