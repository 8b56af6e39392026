"""Liveness reconciliation, run locks and the cross-process run-slot limit."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conductor_loop.errors import ConductorError
from conductor_loop.runner import liveness
from conductor_loop.runner.environment import build_agent_env, prepend_path_once
from conductor_loop.runner.liveness import (
    RUN_LOCK_FILE,
    hold_run_lock,
    owner_gone_reason,
    reconcile_run,
    run_lock_released,
)
from conductor_loop.runner.slots import run_slot
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import RunInfo, iso_utc, read_run_info, write_run_info


def _info(**fields: object) -> RunInfo:
    base: dict[str, object] = {
        "run_id": "r1",
        "project_id": "p",
        "task_id": "t",
        "start_time": iso_utc(),
    }
    base.update(fields)
    return RunInfo(**base)  # type: ignore[arg-type]


def test_own_instance_runs_are_judged_by_pid() -> None:
    me = _info(runner_pid=os.getpid(), host="", instance_id="")
    assert owner_gone_reason(me) is None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = _info(runner_pid=dead.pid)
    assert "exited without recording" in (owner_gone_reason(gone) or "")


def test_other_instance_runs_are_judged_by_heartbeat() -> None:
    now = time.time()
    fresh = _info(instance_id="replica-2", heartbeat_time=iso_utc(now - 5), runner_pid=999_999)
    assert owner_gone_reason(fresh, heartbeat_timeout=30, now=now) is None  # PID not consulted
    stale = _info(instance_id="replica-2", heartbeat_time=iso_utc(now - 45), runner_pid=os.getpid())
    reason = owner_gone_reason(stale, heartbeat_timeout=30, now=now)
    assert reason and "replica-2" in reason and "heart" in reason


def test_a_released_run_lock_means_the_runner_is_gone(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert not run_lock_released(run_dir)  # no lock file: cannot tell
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import pathlib, time; from conductor_loop.runner.liveness import hold_run_lock;"
            f" hold_run_lock(pathlib.Path({str(run_dir)!r}));"
            " print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    info = _info(instance_id="elsewhere", heartbeat_time=iso_utc(time.time() - 3600))
    write_run_info(run_dir, info)
    assert not run_lock_released(run_dir)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert run_lock_released(run_dir)
    reconciled = reconcile_run(run_dir)
    assert reconciled.status == "failed" and reconciled.end_time
    assert read_run_info(run_dir).status == "failed"
    assert (run_dir / RUN_LOCK_FILE).exists()
    # Not under <project>/<task>/runs/: there is no task bus to tell, and none is made up.
    assert not list(tmp_path.parent.glob("*MESSAGE-BUS.md"))


def test_a_held_run_lock_outweighs_a_stale_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runner on another replica that is merely slow to beat still holds its run lock:
    the run is not declared dead, and nothing is written to the bus."""
    monkeypatch.setattr(liveness, "RECONCILE_WAIT", 0.2)
    task_dir = tmp_path / "p" / "t"
    run_dir = task_dir / "runs" / "r1"
    run_dir.mkdir(parents=True)
    fd = hold_run_lock(run_dir)
    try:
        write_run_info(
            run_dir, _info(instance_id="elsewhere", heartbeat_time=iso_utc(time.time() - 3600))
        )
        assert reconcile_run(run_dir).status == "running"
        assert read_run_info(run_dir).status == "running"
    finally:
        os.close(fd)
    assert not (task_dir / "TASK-MESSAGE-BUS.md").exists()
    assert reconcile_run(run_dir).status == "failed"  # released: now it is gone
    assert "RUN_CRASH" in (task_dir / "TASK-MESSAGE-BUS.md").read_text()


def test_reconcile_leaves_finished_and_live_runs_alone(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    fd = hold_run_lock(run_dir)
    try:
        write_run_info(run_dir, _info(runner_pid=os.getpid()))
        assert reconcile_run(run_dir).status == "running"
        finished = _info(status="completed", exit_code=0, runner_pid=12345678)
        write_run_info(run_dir, finished)
        assert reconcile_run(run_dir).status == "completed"
    finally:
        os.close(fd)


def _hold_slot(root: str, limit: int, log: str, hold: float) -> None:
    with run_slot(Path(root), limit) as slot:
        with open(log, "a") as handle:
            handle.write(f"start {time.time()} {slot}\n")
        time.sleep(hold)
        with open(log, "a") as handle:
            handle.write(f"end {time.time()} {slot}\n")


def test_run_slots_limit_concurrency_across_processes(tmp_path: Path) -> None:
    log = tmp_path / "slots.log"
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_hold_slot, args=(str(tmp_path), 2, str(log), 0.3)) for _ in range(6)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    events = sorted(
        (float(ts), kind) for kind, ts, _ in (line.split() for line in log.read_text().splitlines())
    )
    running = peak = 0
    for _ts, kind in events:
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    assert peak == 2 and len(events) == 12


def test_a_crashed_slot_holder_frees_its_slot(tmp_path: Path) -> None:
    log = tmp_path / "slots.log"
    ctx = multiprocessing.get_context("spawn")
    holder = ctx.Process(target=_hold_slot, args=(str(tmp_path), 1, str(log), 60))
    holder.start()
    deadline = time.monotonic() + 30
    while not (log.exists() and "start" in log.read_text()):
        assert time.monotonic() < deadline, "holder never got the slot"
        time.sleep(0.02)
    assert holder.pid is not None
    # Cancel already set: run_slot looks at the slots once and gives up rather than wait,
    # so the slot is taken below only if the dead holder's slot is free at once.
    no_waiting = threading.Event()
    no_waiting.set()
    with pytest.raises(ConductorError, match="cancelled"), run_slot(tmp_path, 1, cancel=no_waiting):
        pass  # the live holder has it
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    with run_slot(tmp_path, 1, cancel=no_waiting) as slot:
        assert slot == 0


def test_path_gets_the_run_agent_dir_once() -> None:
    joined = prepend_path_once(os.pathsep.join(["/a", "/bin-dir", "/b", "/bin-dir"]), "/bin-dir")
    assert joined.split(os.pathsep) == ["/bin-dir", "/a", "/b"]


def test_runner_owned_values_win(tmp_path: Path) -> None:
    root = RunsRoot.at(tmp_path)
    env = build_agent_env(
        base={"JRUN_ID": "caller", "JRUN_EXTRA": "stale", "HOME": "/h", "PATH": "/usr/bin"},
        agent_env={"JRUN_TASK_ID": "agent-config-tried", "TOKEN_ENV": "x"},
        project_id="p",
        task_id="t",
        run_id="r",
        parent_run_id="",
        runs_root=root.path,
        task_dir=tmp_path / "p" / "t",
        run_dir=tmp_path / "p" / "t" / "runs" / "r",
        task_bus=tmp_path / "bus",
        config_path=None,
        conductor_url=None,
    )
    assert env["JRUN_ID"] == "r" and env["JRUN_TASK_ID"] == "t" and "JRUN_EXTRA" not in env
    assert env["HOME"] == "/h" and env["TOKEN_ENV"] == "x"
    assert env["CONDUCTOR_ROOT"] == str(root.path)


@pytest.mark.parametrize("limit", [0])
def test_no_limit_means_no_slot_files(tmp_path: Path, limit: int) -> None:
    with run_slot(tmp_path / "slots", limit) as slot:
        assert slot is None
    assert not (tmp_path / "slots").exists()
