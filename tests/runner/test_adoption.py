"""Adopting a loop whose runner died: exactly one adopter continues it, with its saved
settings, after marking the cut-off run failed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from conductor_loop.bus.reader import read_all
from conductor_loop.runner.task_loop import LOOP_STATE_FILE, loop_died
from conductor_loop.storage.runinfo import read_run_info
from tests.runner.conftest import RunnerEnv, agent_pid
from tests.support import wait_until

PROMPT = "FAKE@1: sleep 60\nFAKE@2+: write-done\nFAKE: answer done"


def _kill_loop_mid_run(rig: RunnerEnv) -> subprocess.Popen[str]:
    proc = rig.start(
        "task", "--project", "p", "--task", "t", "--prompt", PROMPT, "--max-restarts", "5"
    )
    wait_until(lambda: rig.root.run_ids("p", "t"), 20, "first run")
    first = rig.root.run_dir("p", "t", rig.root.run_ids("p", "t")[0])
    wait_until(lambda: agent_pid(first) > 0, 20, "agent start")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    return proc


def test_a_dead_loop_is_found_and_adopted_once(rig: RunnerEnv) -> None:
    assert not loop_died(rig.root.task_dir("p", "t"))
    _kill_loop_mid_run(rig)
    assert loop_died(rig.root.task_dir("p", "t"))
    adopters = [rig.start("task", "--project", "p", "--task", "t", "--adopt") for _ in range(3)]
    results = [a.communicate(timeout=60) for a in adopters]
    assert all(a.returncode == 0 for a in adopters), results
    runs = rig.runs("p", "t")
    assert [r.status for r in runs] == ["failed", "completed"]
    assert "exited without recording" in runs[0].error_summary
    assert runs[1].previous_run_id == runs[0].run_id
    adopted = [m for m in read_all(rig.root.task_bus("p", "t")) if m.meta.get("kind") == "adopted"]
    assert len(adopted) == 1, "exactly one adopter may run the loop"
    state = json.loads((rig.root.task_dir("p", "t") / LOOP_STATE_FILE).read_text())
    assert state["state"] == "exited" and state["outcome"] == "completed"
    assert state["settings"]["max_restarts"] == 5  # the dead loop's settings carried over
    assert not loop_died(rig.root.task_dir("p", "t"))


def test_adopting_a_loop_that_ended_normally_does_nothing(rig: RunnerEnv) -> None:
    assert (
        rig.run("task", "--project", "p", "--task", "t", "--prompt", "FAKE: write-done").returncode
        == 0
    )
    adopt = rig.run("task", "--project", "p", "--task", "t", "--adopt")
    assert adopt.returncode == 0
    assert len(rig.runs("p", "t")) == 1


def test_a_stop_requested_before_adoption_is_honoured(rig: RunnerEnv) -> None:
    from conductor_loop.runner.stop_request import request_stop

    _kill_loop_mid_run(rig)
    request_stop(rig.root.task_dir("p", "t"))
    adopt = rig.run("task", "--project", "p", "--task", "t", "--adopt")
    assert adopt.returncode == 1  # stopped, not completed
    runs = rig.runs("p", "t")
    assert (
        len(runs) == 1
        and read_run_info(rig.root.run_dir("p", "t", runs[0].run_id)).status == "failed"
    )
    assert not loop_died(rig.root.task_dir("p", "t"))


def _loop_with_agent_running(rig: RunnerEnv) -> tuple[subprocess.Popen[str], Path]:
    proc = rig.start("task", "--project", "p", "--task", "t", "--prompt", PROMPT)
    wait_until(lambda: rig.root.run_ids("p", "t"), 20, "first run")
    first = rig.root.run_dir("p", "t", rig.root.run_ids("p", "t")[0])
    wait_until(lambda: agent_pid(first) > 0, 20, "agent start")
    # the fake agent counts its invocations: wait until this one has been counted
    wait_until((rig.root.task_dir("p", "t") / ".fake-agent-count").exists, 20, "agent running")
    return proc, first


def test_sigterm_is_a_shutdown_the_loop_is_resumed_later(rig: RunnerEnv) -> None:
    proc, first = _loop_with_agent_running(rig)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    info = read_run_info(first)
    assert info.status == "failed" and "shut down" in info.error_summary
    assert not (rig.root.task_dir("p", "t") / "STOP-REQUEST").exists()
    assert loop_died(rig.root.task_dir("p", "t"))
    assert rig.run("task", "--project", "p", "--task", "t", "--adopt").returncode == 0
    assert [r.status for r in rig.runs("p", "t")] == ["failed", "completed"]


def test_ctrl_c_is_a_stop_the_loop_stays_stopped(rig: RunnerEnv) -> None:
    proc, first = _loop_with_agent_running(rig)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert read_run_info(first).status == "stopped"
    assert not loop_died(rig.root.task_dir("p", "t"))
