"""The Ray executor on a local Ray (started in this process; the ``ray`` extra): loops
run as detached named actors, record where they ran, free their slot at the end, are
submitted once, and a loop whose actor and process die is continued by Ray's restart
through adoption. Few tests: starting Ray costs seconds. The cluster case (two worker
nodes, a killed node) is tests/docker/test_ray.py."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from conductor_loop.bus.reader import read_all
from conductor_loop.orchestration.executors.ray import actor_name
from conductor_loop.orchestration.orchestrator import Orchestrator, TaskRequest
from conductor_loop.runner.task_loop import read_loop_state
from conductor_loop.storage.runinfo import read_run_info
from tests.orchestration.conftest import Rig
from tests.support import wait_until

NAMESPACE = "conductor-loop-test"
SLOTS = 2


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    try:
        import ray
    except ImportError:
        pytest.fail("the ray extra is not installed: pip install -e '.[dev,ray]'", pytrace=False)
    # A cluster of this test alone, on loopback: no auth token (which Ray would keep under
    # a HOME that every test moves), so that the `run-agent` processes here join it too.
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    ray.init(
        address="local",
        num_cpus=2,
        resources={"agent_slots": SLOTS},
        include_dashboard=False,
        namespace=NAMESPACE,
        logging_level="warning",
        log_to_driver=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved


def _orchestrator(rig: Rig, **defaults: object) -> Orchestrator:
    orch = rig.orchestrator(**defaults)
    with rig.config_path.open("a", encoding="utf-8") as handle:
        handle.write(f"executor:\n  type: ray\n  address: local\n  namespace: {NAMESPACE}\n")
    again = rig.orchestrator()
    rig.made.remove(orch)
    assert again.executor.name == "ray"
    return again


def _free_slots(ray: Any) -> float:
    return float(ray.available_resources().get("agent_slots", 0.0))


def _actor_gone(ray: Any, name: str) -> bool:
    try:
        ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return True
    return False


def _loop_processes(ray: Any, rig: Rig) -> dict[str, Any]:
    """Once task p/t's agent has read its prompt: where its loop's actor runs (node id,
    actor and loop pids)."""
    counter = rig.root.task_dir("p", "t") / ".fake-agent-count"
    wait_until(counter.exists, 20, "the agent to read its prompt")
    actor = ray.get_actor(actor_name("p", "t"), namespace=NAMESPACE)
    where: dict[str, Any] = ray.get(actor.where.remote())
    return where


def test_a_loop_runs_as_a_named_ray_actor_once_and_frees_its_slot(
    rig: Rig, ray_cluster: Any
) -> None:
    ray = ray_cluster
    orch = _orchestrator(rig)
    gate = rig.tmp / "gate"
    started = orch.create(TaskRequest("p", f"FAKE: wait-file {gate} 60\nFAKE: write-done\n", "t"))
    assert started.status == "running" and started.run_id, started
    loop = orch._procs[("p", "t")]
    actor = ray.get_actor(actor_name("p", "t"), namespace=NAMESPACE)
    where = ray.get(actor.where.remote())
    assert _free_slots(ray) == SLOTS - 1
    # A second submit of the same loop (another replica, a retried request) finds it.
    again = orch._launch("p", "t", orch_settings())
    assert ray.get(actor.where.remote()) == where
    assert again.poll() is None
    info = read_run_info(rig.root.run_dir("p", "t", started.run_id))
    assert info.ray_node_id == where["node_id"] and info.ray_job_id and info.ray_worker_id
    assert info.ray_node_name
    assert read_loop_state(rig.root.task_dir("p", "t"))["executor"] == "ray"
    gate.touch()
    rig.wait_status(orch, "t", "completed")
    assert len(rig.root.run_ids("p", "t")) == 1  # one loop, one run
    wait_until(lambda: _actor_gone(ray, actor_name("p", "t")), 30, "the actor to exit")
    wait_until(lambda: _free_slots(ray) == SLOTS, 30, "the slot to be free again")
    assert loop.wait(10) == 0  # the loop's exit status, from its actor


def test_a_loop_whose_actor_and_process_die_is_continued_by_rays_restart(
    rig: Rig, ray_cluster: Any
) -> None:
    ray = ray_cluster
    orch = _orchestrator(rig)
    gate = rig.tmp / "gate"
    prompt = f"FAKE@1: wait-file {gate} 120\nFAKE@2+: write-done\n"
    started = orch.create(TaskRequest("p", prompt, "t", max_restarts=5))
    assert started.run_id
    where = _loop_processes(ray, rig)
    # As when its node dies: the actor's process and the loop's go at once.
    os.kill(int(where["actor_pid"]), signal.SIGKILL)
    os.kill(int(where["loop_pid"]), signal.SIGKILL)
    try:
        wait_until(lambda: len(rig.root.run_ids("p", "t")) >= 2, 60, "the restarted loop's run")
        rig.wait_status(orch, "t", "completed", timeout=60)
    finally:
        gate.touch()
    runs = rig.runs("t")
    assert [r.status for r in runs] == ["failed", "completed"]
    bus = read_all(rig.root.task_bus("p", "t"))
    assert [m.run_id for m in bus if m.type == "RUN_CRASH"] == [runs[0].run_id]
    assert [m.run_id for m in bus if m.type == "RUN_START"] == [r.run_id for r in runs]
    assert len([m for m in bus if m.meta.get("kind") == "adopted"]) == 1
    wait_until(lambda: _actor_gone(ray, actor_name("p", "t")), 30, "the actor to exit")


def test_the_queue_and_depends_on_stay_ours_with_the_ray_executor(
    rig: Rig, ray_cluster: Any
) -> None:
    """Waiting tasks hold no Ray slot: the orchestrator's queue (a cap of one root task)
    and ``depends_on`` decide when a loop is submitted; Ray only places it."""
    ray = ray_cluster
    orch = _orchestrator(rig, max_concurrent_root_tasks=1)
    gate = rig.tmp / "gate"
    first = orch.create(TaskRequest("p", f"FAKE: wait-file {gate} 60\nFAKE: write-done\n", "a"))
    assert first.status == "running", first
    queued = orch.create(TaskRequest("p", "FAKE: write-done\n", "b"))
    waiting = orch.create(TaskRequest("p", "FAKE: write-done\n", "c", depends_on=["b"]))
    assert (queued.status, queued.queue_position) == ("queued", 1), queued
    assert waiting.status == "queued", waiting
    assert orch.schedule() == 0  # the cap is taken
    assert _free_slots(ray) == SLOTS - 1  # only the running loop holds a slot
    gate.touch()
    for task_id in "abc":
        rig.wait_status(orch, task_id, "completed", timeout=90)
    infos = {t: rig.runs(t)[0] for t in "abc"}
    assert all(info.ray_node_id for info in infos.values()), infos  # each ran on Ray
    assert infos["a"].end_time <= infos["b"].start_time  # the cap: one at a time
    assert infos["b"].end_time <= infos["c"].start_time  # c waited for b's DONE
    wait_until(lambda: _free_slots(ray) == SLOTS, 30, "every slot to be free again")


def orch_settings() -> Any:
    from conductor_loop.orchestration.queue import LoopSettings

    return LoopSettings()


def test_run_agent_task_submits_to_ray_and_returns(rig: Rig, ray_cluster: Any) -> None:
    ray = ray_cluster
    _orchestrator(rig)  # writes the config with the Ray executor
    gcs = ray.get_runtime_context().gcs_address  # the test's cluster, as HOST:PORT
    gate = rig.tmp / "gate"
    prompt = f"FAKE: wait-file {gate} 60\nFAKE: write-done\n"
    refused = rig.run_agent(
        "task", "--project", "p", "--task", "t", "--prompt", prompt, "--executor", "ray", "-f"
    )
    assert refused.returncode == 2 and "--follow cannot be used with --executor ray" in (
        refused.stderr
    )
    submitted = rig.run_agent_env(
        {"CONDUCTOR_RAY_ADDRESS": gcs},
        "task", "--project", "p", "--task", "t", "--prompt", prompt, "--executor", "ray", "--json",
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    answer = json.loads(submitted.stdout)
    assert (answer["status"], answer["executor"]) == ("running", "ray"), answer
    # The command has returned; the loop goes on as a detached actor.
    info = read_run_info(rig.root.run_dir("p", "t", answer["run_id"]))
    assert info.status == "running" and info.ray_node_id
    gate.touch()
    orch = rig.orchestrator()
    rig.wait_status(orch, "t", "completed")
    wait_until(lambda: _actor_gone(ray, actor_name("p", "t")), 30, "the actor to exit")


def test_a_resume_right_after_the_loop_ended_starts_a_new_loop(rig: Rig, ray_cluster: Any) -> None:
    """The ended loop's actor lingers a moment under the loop's name: a resume in that
    moment must not take it for the running loop."""
    orch = _orchestrator(rig)
    prompt = "FAKE@1: write-done\nFAKE@2+: answer resumed\nFAKE@2+: write-done\n"
    assert orch.create(TaskRequest("p", prompt, "t")).run_id
    task_dir = rig.root.task_dir("p", "t")
    wait_until(lambda: read_loop_state(task_dir).get("state") == "exited", 30, "the loop's end")
    resumed = orch.resume(rig.task(orch, "t"))
    assert resumed.run_id, resumed
    rig.wait_status(orch, "t", "completed")
    runs = rig.runs("t")
    assert [r.status for r in runs] == ["completed", "completed"]


def test_a_loop_interrupted_by_its_nodes_shutdown_is_continued_by_rays_restart(
    rig: Rig, ray_cluster: Any
) -> None:
    """A node being stopped sends SIGTERM: the loop records that it is to be resumed and
    exits; its actor must not end for good then, but be restarted to adopt it."""
    ray = ray_cluster
    orch = _orchestrator(rig)
    gate = rig.tmp / "gate"
    prompt = f"FAKE@1: wait-file {gate} 120\nFAKE@2+: write-done\n"
    assert orch.create(TaskRequest("p", prompt, "t", max_restarts=5)).run_id
    where = _loop_processes(ray, rig)
    os.kill(int(where["loop_pid"]), signal.SIGTERM)
    try:
        wait_until(lambda: len(rig.root.run_ids("p", "t")) >= 2, 60, "the adopting loop's run")
        rig.wait_status(orch, "t", "completed", timeout=60)
    finally:
        gate.touch()
    runs = rig.runs("t")
    assert runs[-1].status == "completed" and len(runs) == 2, runs
    bus = read_all(rig.root.task_bus("p", "t"))
    # Adopted by the restarted actor: the orchestrator's sweep leaves Ray's loops alone.
    assert len([m for m in bus if m.meta.get("kind") == "adopted"]) == 1
