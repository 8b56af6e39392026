"""The orchestrator called as plain functions (no server): the queue, ``depends_on``,
re-prompt refusal shared with ``run-agent task``, and adopting a dead loop once. Its
loops are real ``run-agent task`` processes running the fake agents."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from conductor_loop.bus.reader import read_all
from conductor_loop.errors import ConflictError
from conductor_loop.orchestration.errors import DependencyCycleError
from conductor_loop.orchestration.executors.local import LocalExecutor
from conductor_loop.orchestration.launcher import LaunchSpec, launch
from conductor_loop.orchestration.orchestrator import LaunchCount, Orchestrator, TaskRequest
from conductor_loop.runner.placement import (
    LOOP_EXECUTOR_ENV,
    LOOP_TASK_ENV,
    RAY_JOB_ID_ENV,
    RAY_NODE_ID_ENV,
    RAY_NODE_NAME_ENV,
    RAY_WORKER_ID_ENV,
)
from conductor_loop.runner.task_loop import loop_died, read_loop_state
from conductor_loop.storage.layout import DONE_FILE, TASK_FILE
from conductor_loop.storage.runinfo import read_run_info
from tests.orchestration.conftest import Rig
from tests.runner.conftest import agent_pid
from tests.support import wait_until


def test_the_queue_is_first_come_first_served(rig: Rig) -> None:
    orch = rig.orchestrator(max_concurrent_root_tasks=1)
    gate = rig.tmp / "gate"
    first = orch.create(TaskRequest("p", f"FAKE: wait-file {gate} 60\nFAKE: write-done\n", "a"))
    assert first.status == "running" and first.run_id
    second = orch.create(TaskRequest("p", "FAKE: write-done\n", "b"))
    third = orch.create(TaskRequest("p", "FAKE: write-done\n", "c"))
    assert (second.status, second.queue_position, second.run_id) == ("queued", 1, None)
    assert (third.status, third.queue_position) == ("queued", 2)
    assert orch.schedule() == 0  # the slot is taken
    assert [t.task_id for t in orch.index.queue()] == ["b", "c"]
    gate.touch()
    for task_id in ("a", "b", "c"):
        rig.wait_status(orch, task_id, "completed")
    starts = [rig.runs(t)[0] for t in "bc"]
    assert starts[0].start_time < starts[1].start_time


def test_depends_on_waits_for_done_even_on_unknown_or_failing_tasks(rig: Rig) -> None:
    orch = rig.orchestrator()
    unknown = orch.create(TaskRequest("p", "FAKE: write-done\n", "waits", depends_on=["later"]))
    assert unknown.status == "queued"  # "later" may be created afterwards
    with pytest.raises(DependencyCycleError, match="later -> waits -> later"):
        orch.create(TaskRequest("p", "x", "later", depends_on=["waits"]))
    with pytest.raises(DependencyCycleError, match="itself"):
        orch.create(TaskRequest("p", "x", "self", depends_on=["self"]))
    assert not rig.root.task_dir("p", "later").exists()  # a refused create leaves nothing

    failing = orch.create(TaskRequest("p", "FAKE: exit 1\n", "later", max_restarts=0))
    assert failing.status == "running"
    rig.wait_status(orch, "later", "failed")
    assert rig.status(orch, "waits") == "queued"  # a failed dependency is not DONE
    assert orch.schedule() == 0

    (rig.root.task_dir("p", "later") / DONE_FILE).touch()  # done after all (by hand)
    rig.wait_status(orch, "waits", "completed")


def test_an_existing_task_is_refused_by_the_orchestrator_and_the_cli_alike(rig: Rig) -> None:
    orch = rig.orchestrator()
    done = orch.create(TaskRequest("p", "FAKE: write-done\n", "t"))
    assert done.status == "running"
    rig.wait_status(orch, "t", "completed")
    task_md = rig.root.task_dir("p", "t") / TASK_FILE
    with pytest.raises(ConflictError, match=r"task p/t already exists \(1 run\(s\), DONE\)"):
        orch.create(TaskRequest("p", "intruder prompt", "t"))
    cli = rig.run_agent("task", "--project", "p", "--task", "t", "--prompt", "intruder prompt")
    assert cli.returncode == 2 and "already exists (1 run(s), DONE)" in cli.stderr
    assert task_md.read_text() == "FAKE: write-done\n"
    assert len(rig.root.run_ids("p", "t")) == 1


def test_a_dead_loop_is_adopted_exactly_once_across_orchestrators(rig: Rig) -> None:
    gate = rig.tmp / "gate"
    prompt = f"FAKE@1: wait-file {gate} 60\nFAKE@2+: write-done\n"
    replicas = [rig.orchestrator(), rig.orchestrator()]
    started = replicas[0].create(TaskRequest("p", prompt, "t", max_restarts=5))
    assert started.run_id is not None
    first = rig.root.run_dir("p", "t", started.run_id)
    wait_until(lambda: agent_pid(first) > 0, 20, "agent start")
    counter = rig.root.task_dir("p", "t") / ".fake-agent-count"
    wait_until(counter.exists, 20, "the agent to read its prompt")  # it is run 1 for good
    loop = replicas[0]._procs[("p", "t")]
    os.kill(loop.pid, signal.SIGKILL)  # the runner dies; its agent keeps waiting
    loop.wait(10)
    task_dir = rig.root.task_dir("p", "t")
    assert loop_died(task_dir)
    try:
        for orch in replicas:  # each server's periodic sweep finds the dead loop
            orch.index.apply_rescan()
            orch.sweep()
            orch.sweep()  # its adopter is on it: not launched again
        launched = [_launches(orch) for orch in replicas]
        assert launched[0] == 2  # the loop, then its adopter
        assert launched[1] in (0, 1)  # 1: it raced the first adopter (whose lock wins)
        for orch in replicas:
            rig.wait_status(orch, "t", "completed")
    finally:
        gate.touch()
    adopted = [m for m in read_all(rig.root.task_bus("p", "t")) if m.meta.get("kind") == "adopted"]
    assert len(adopted) == 1, "exactly one adopter may run the loop"
    runs = rig.runs("t")
    assert [r.status for r in runs] == ["failed", "completed"]
    assert not loop_died(task_dir)
    for orch in replicas:
        wait_until(lambda o=orch: _reaped(o), 20, "the adopters to exit")  # type: ignore[misc]
        assert orch.adopt_orphaned_loops() == 0


def _launches(orch: Orchestrator) -> int:
    assert isinstance(orch.launched, LaunchCount)
    return orch.launched.count


def _reaped(orch: Orchestrator) -> bool:
    orch.sweep()
    return not orch._procs


def test_run_agent_task_applies_the_same_rules_before_writing_anything(rig: Rig) -> None:
    orch = rig.orchestrator()
    assert orch.create(TaskRequest("p", "x", "waits", depends_on=["later"])).status == "queued"
    base = ("task", "--project", "p", "--task", "later", "--prompt", "FAKE: write-done")
    cycle = rig.run_agent(*base, "--depends-on", "waits")
    assert cycle.returncode == 2, cycle.stderr
    assert "depends_on would create a cycle: later -> waits -> later" in cycle.stderr
    unknown_agent = rig.run_agent(*base, "--agent", "nope")
    assert unknown_agent.returncode == 2 and "unknown agent 'nope'" in unknown_agent.stderr
    assert not rig.root.task_dir("p", "later").exists()


class _AsIfOnRay(LocalExecutor):
    """Starts loops as local processes, in the environment a Ray loop actor gives them."""

    name = "as-if-ray"

    def launch(self, spec: LaunchSpec) -> subprocess.Popen[bytes]:
        spec.extra_env.update(
            {
                LOOP_EXECUTOR_ENV: "ray",
                LOOP_TASK_ENV: f"{spec.project_id}/{spec.task_id}",
                RAY_NODE_ID_ENV: "node-1",
                RAY_WORKER_ID_ENV: "worker-1",
                RAY_JOB_ID_ENV: "01000000",
                RAY_NODE_NAME_ENV: "worker-host-1",
            }
        )
        return launch(spec)


def test_the_adoption_sweep_leaves_loops_that_ray_runs_to_ray(rig: Rig) -> None:
    gate = rig.tmp / "gate"
    prompt = f"FAKE@1: wait-file {gate} 60\nFAKE@2+: write-done\n"
    orch = rig.orchestrator()
    orch.executor = _AsIfOnRay()
    started = orch.create(TaskRequest("p", prompt, "t", max_restarts=5))
    assert started.run_id is not None
    first = rig.root.run_dir("p", "t", started.run_id)
    info = read_run_info(first)
    assert (info.ray_node_id, info.ray_worker_id, info.ray_job_id, info.ray_node_name) == (
        "node-1",
        "worker-1",
        "01000000",
        "worker-host-1",
    )
    assert "ray_node_id: node-1" in (first / "run-info.yaml").read_text()
    wait_until(lambda: agent_pid(first) > 0, 20, "agent start")
    counter = rig.root.task_dir("p", "t") / ".fake-agent-count"
    wait_until(counter.exists, 20, "the agent to read its prompt")
    loop = orch._procs[("p", "t")]
    os.kill(loop.pid, signal.SIGKILL)  # its node died (the agent keeps waiting)
    loop.wait(10)
    task_dir = rig.root.task_dir("p", "t")
    try:
        assert loop_died(task_dir)
        assert read_loop_state(task_dir)["executor"] == "ray"
        for _ in range(2):
            orch.index.apply_rescan()
            orch.sweep()
        assert _launches(orch) == 1  # the loop only: Ray restarts it, not our sweep
        assert orch.adopt_orphaned_loops() == 0
        assert loop_died(task_dir)
        # What Ray's restarted actor runs: the adoption, which completes the task.
        adopted = rig.run_agent("task", "--project", "p", "--task", "t", "--adopt")
        assert adopted.returncode == 0, adopted.stderr
    finally:
        gate.touch()
    runs = rig.runs("t")
    assert [r.status for r in runs] == ["failed", "completed"]
    assert runs[1].ray_node_id == ""  # run outside Ray: no placement recorded
    assert (
        "ray_node_id"
        not in (rig.root.run_dir("p", "t", runs[1].run_id) / "run-info.yaml").read_text()
    )
    bus = read_all(rig.root.task_bus("p", "t"))
    assert [m.run_id for m in bus if m.type == "RUN_CRASH"] == [runs[0].run_id]
    assert read_loop_state(task_dir)["executor"] == "local"


def test_a_loop_started_by_an_agent_inside_a_ray_loop_is_not_taken_for_ray(rig: Rig) -> None:
    from conductor_loop.runner.placement import loop_executor

    env = {LOOP_EXECUTOR_ENV: "ray", LOOP_TASK_ENV: "p/t"}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        assert loop_executor("p", "t") == "ray"
        assert loop_executor("p", "child") == "local"
