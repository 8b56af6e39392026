"""Runs survive the container: `docker compose restart`, then `down` + `up`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docker.helpers import (
    ITERATION_1_MARKER,
    MARK_ITERATION_1,
    Stack,
    record_figure,
    tree_snapshot,
    wait_task_finished,
    wait_until,
)

pytestmark = pytest.mark.docker

PROJECT = "docker-persist"
FINISHED = "task-20260101-000000-finished"
MID_LOOP = "task-20260101-000000-mid-loop"

# Iteration 1 is still running when the container restarts; a later iteration finishes.
MID_LOOP_PROMPT = MARK_ITERATION_1 + (
    "FAKE@1: sleep 600\nFAKE@2+: answer finished after the restart\nFAKE@2+: write-done\n"
)


def _project_bus(stack: Stack) -> Path:
    return stack.data_dir / PROJECT / "PROJECT-MESSAGE-BUS.md"


def _state(stack: Stack, task_id: str) -> dict[str, Any]:
    """What must not change: run summaries and messages via the API, and the files."""
    task_dir = stack.task_dir(PROJECT, task_id)
    files = [task_dir / "TASK.md", task_dir / "TASK-MESSAGE-BUS.md", task_dir / "DONE"]
    for run_dir in stack.run_dirs(PROJECT, task_id):
        files += [run_dir / "run-info.yaml", run_dir / "output.md", run_dir / "agent-stdout.txt"]
    runs = {d.name: stack.run_info(d.name) for d in stack.run_dirs(PROJECT, task_id)}
    return {
        "files": tree_snapshot(files),
        "runs": runs,
        "task_messages": stack.messages(PROJECT, task_id),
    }


def _indexed_state(stack: Stack, task_id: str) -> dict[str, Any]:
    """``_state`` once the server shows each run as its run-info.yaml says: the index
    follows file changes within moments, and the runner may add a CLI version that
    arrived late to a finished run's record just before its loop exits."""

    def caught_up() -> dict[str, Any] | None:
        state = _state(stack, task_id)
        for run_dir in stack.run_dirs(PROJECT, task_id):
            on_disk = yaml.safe_load((run_dir / "run-info.yaml").read_text("utf-8")) or {}
            shown = state["runs"].get(run_dir.name) or {}
            for key in ("status", "agent_version"):
                if (shown.get(key) or "") != (on_disk.get(key) or ""):
                    return None
        return state

    result: dict[str, Any] = wait_until(caught_up, 20, f"the server to show {task_id} as stored")
    return result


def _assert_same(before: dict[str, Any], after: dict[str, Any], when: str) -> None:
    assert after["files"].keys() == before["files"].keys(), when
    for path, content in before["files"].items():
        assert after["files"][path] == content, f"{path} changed {when}"
    assert after["runs"] == before["runs"], f"run summaries changed {when}"
    assert after["task_messages"] == before["task_messages"], f"task bus changed {when}"


def _wait_fact(stack: Stack, task_id: str) -> bytes:
    """The project bus once it holds the completion FACT of task_id."""

    def posted() -> bytes | None:
        bus = _project_bus(stack)
        content = bus.read_bytes() if bus.is_file() else b""
        return content if task_id.encode() in content else None

    return wait_until(posted, 60, f"the project bus FACT for {task_id}")


@pytest.mark.timeout(600)
def test_persistence(stack: Stack) -> None:
    """A finished task's runs, output and buses are identical after restart and down + up."""
    stack.up()
    stack.wait_healthy()

    created = stack.create_task(PROJECT, FINISHED, "FAKE: answer kept on disk\nFAKE: write-done")
    wait_task_finished(stack, PROJECT, FINISHED)
    project_bus_before = _wait_fact(stack, FINISHED)
    before = _indexed_state(stack, FINISHED)
    if created.get("run_id"):
        assert created["run_id"] in before["runs"]
    assert before["runs"] and all(r and r["status"] == "completed" for r in before["runs"].values())
    output = next(p for p in before["files"] if p.endswith("output.md"))
    assert b"kept on disk" in before["files"][output]
    assert before["task_messages"], "the task bus is empty"

    started = time.monotonic()
    stack.compose("restart")
    stack.wait_healthy()
    record_figure("restart_to_healthy_seconds", time.monotonic() - started)
    _assert_same(before, _state(stack, FINISHED), "across docker compose restart")
    assert _project_bus(stack).read_bytes().startswith(project_bus_before)

    old_container = stack.container_id()
    stack.down()
    started = time.monotonic()
    stack.up()
    stack.wait_healthy()
    record_figure("down_up_to_healthy_seconds", time.monotonic() - started)
    assert stack.container_id() != old_container
    _assert_same(before, _state(stack, FINISHED), "across down + up")
    assert _project_bus(stack).read_bytes().startswith(project_bus_before)
    project_messages = stack.messages(PROJECT)
    assert any(m.get("task_id") == FINISHED for m in project_messages), project_messages


@pytest.mark.timeout(600)
def test_persistence_task_mid_loop_at_restart_finishes_afterwards(stack: Stack) -> None:
    """A task whose agent is running when the container restarts is carried on afterwards."""
    stack.up()
    stack.wait_healthy()
    stack.create_task(PROJECT, MID_LOOP, MID_LOOP_PROMPT)
    marker = stack.task_dir(PROJECT, MID_LOOP) / ITERATION_1_MARKER
    wait_until(marker.exists, 60, "iteration 1 of the task to start")

    stack.compose("restart")
    stack.wait_healthy()
    try:
        infos = wait_task_finished(stack, PROJECT, MID_LOOP, timeout=90)
    except AssertionError:
        runs = [(p.parent.name, i.get("status"), i.get("error_summary")) for p, i in
                stack.host_run_infos()]  # fmt: skip
        raise AssertionError(
            "the task interrupted by the restart did not finish afterwards "
            f"(runs on disk: {runs}; DONE: {(stack.task_dir(PROJECT, MID_LOOP) / 'DONE').exists()})"
        ) from None
    assert len(infos) >= 2, infos
    assert infos[-1]["status"] == "completed", infos[-1]
    before = _state(stack, MID_LOOP)

    stack.down()
    stack.up()
    stack.wait_healthy()
    _assert_same(before, _state(stack, MID_LOOP), "across down + up")
