"""Reconciling runs whose owner is gone: a run still marked ``running`` after its runner
died is rewritten as ``failed`` with a reason, on read and by periodic sweeps.

The owner is the runner process (``runner_pid``), not the agent: while the runner lives
it will record the outcome itself. PIDs are only meaningful on the same instance; runs
owned by another instance are judged by their heartbeat, and — exactly and at once —
by the run lock: the runner holds an exclusive ``flock`` on ``<run>/.run.lock`` for the
whole run, and the kernel releases it when the runner dies (also across containers that
share the runs volume).
"""

from __future__ import annotations

import contextlib
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from conductor_loop.errors import StorageError
from conductor_loop.runner.identity import instance_id
from conductor_loop.runner.process import pid_alive, terminate_tree
from conductor_loop.storage.layout import RUNS_SUBDIR, TASK_BUS_FILE
from conductor_loop.storage.locks import lock_is_held, take_lock
from conductor_loop.storage.runinfo import (
    STATUS_FAILED,
    STATUS_RUNNING,
    RunInfo,
    RunInfoError,
    iso_utc,
    read_run_info,
    write_run_info,
)

DEFAULT_HEARTBEAT_TIMEOUT = 30.0
RUN_LOCK_FILE = ".run.lock"
RECONCILE_WAIT = 3.0  # seconds a reconciler waits for another one's verdict


def hold_run_lock(run_dir: Path) -> int:
    """Take the run's lock for the life of the runner; returns the fd to close at the end."""
    return take_lock(run_dir / RUN_LOCK_FILE)


def run_lock_released(run_dir: Path) -> bool:
    """True when the run has a lock file that nobody holds (its runner is gone). Runs
    written by other tools have no lock file: they are judged by PID and heartbeat."""
    return lock_is_held(run_dir / RUN_LOCK_FILE) is False


def parse_iso(value: str) -> float | None:
    """Epoch seconds of an ISO-8601 time stamp (``Z`` or offset); None if unparseable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def owned_here(info: RunInfo) -> bool:
    owner = info.instance_id or info.host
    return not owner or owner == instance_id()


def owner_gone_reason(
    info: RunInfo,
    *,
    run_dir: Path | None = None,
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
    now: float | None = None,
) -> str | None:
    """Why the run's owner is considered dead, or None if it may still be running."""
    if info.status != STATUS_RUNNING:
        return None
    if run_dir is not None and run_lock_released(run_dir):
        owner = info.instance_id or info.host or "its runner"
        return f"runner {info.runner_pid or '?'} on {owner} exited without recording the result"
    now = time.time() if now is None else now
    started = parse_iso(info.start_time)
    if owned_here(info):
        runner = info.runner_pid or info.pid
        if pid_alive(runner, started_before=started):
            return None
        if info.runner_pid:
            return f"runner process {info.runner_pid} exited without recording the result"
        return f"agent process {info.pid} is gone and no result was recorded"
    beat = parse_iso(info.heartbeat_time) or started
    if beat is not None and now - beat <= heartbeat_timeout:
        return None
    owner = info.instance_id or info.host
    age = "never" if beat is None else f"{now - beat:.0f}s ago"
    return f"owner {owner} stopped heart-beating (last heartbeat {age})"


def reconcile_run(
    run_dir: Path,
    info: RunInfo | None = None,
    *,
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
) -> RunInfo:
    """Return the run's info, first recording ``failed`` if its owner is gone.

    The one reconciler that takes the run lock records the failure and posts one
    RUN_CRASH on the task's bus (any number of servers and CLIs may notice at once).
    An agent orphaned by its runner's death (same instance) is terminated: nobody would
    ever record its result, and it must not keep working on the task unobserved.
    """
    if info is None:
        info = read_run_info(run_dir)
    reason = owner_gone_reason(info, run_dir=run_dir, heartbeat_timeout=heartbeat_timeout)
    if reason is None:
        return info
    try:
        lock_fd: int | None = take_lock(run_dir / RUN_LOCK_FILE, blocking=False)
    except BlockingIOError:  # another reconciler is at it (or the runner lives after all)
        return _verdict_of_another(run_dir, info)
    except OSError:  # e.g. a read-only runs volume: record what we can, unguarded
        lock_fd = None
    try:
        # Re-read under the lock: the owner may have just finished, or another
        # reconciler may have recorded the failure already.
        info = _fresh(run_dir, info)
        if info.status != STATUS_RUNNING:
            return info
        if owned_here(info) and info.pid and info.pid != info.runner_pid:
            started = parse_iso(info.start_time)
            if pid_alive(info.pid, started_before=None if started is None else started + 60):
                pgid = info.pgid or info.pid
                terminate_tree(info.pid, pgid, grace=1.0)
                reason += f"; orphaned agent process {info.pid} was terminated"
        info.status = STATUS_FAILED
        info.end_time = iso_utc()
        info.error_summary = reason
        try:
            write_run_info(run_dir, info)
        except FileNotFoundError:  # deleted meanwhile
            return info
        except StorageError:  # a full or read-only disk: it reads as failed all the same
            return info
        _post_crash(run_dir, info)
        return info
    finally:
        if lock_fd is not None:
            os.close(lock_fd)


def _verdict_of_another(run_dir: Path, info: RunInfo) -> RunInfo:
    """The run's info once whoever holds the lock has recorded it (it may be ending an
    orphaned agent, ``terminate_tree``'s one-second grace); as it is after a while."""
    deadline = time.monotonic() + RECONCILE_WAIT
    while True:
        info = _fresh(run_dir, info)
        if info.status != STATUS_RUNNING or time.monotonic() >= deadline:
            return info
        if lock_is_held(run_dir / RUN_LOCK_FILE) is False:
            return _fresh(run_dir, info)
        time.sleep(0.02)


def _fresh(run_dir: Path, fallback: RunInfo) -> RunInfo:
    try:
        return read_run_info(run_dir)
    except (FileNotFoundError, RunInfoError):
        return fallback


def _post_crash(run_dir: Path, info: RunInfo) -> None:
    """Tell the task's agents, as the runner would have: the run is over, failed."""
    from conductor_loop.bus.message import Message
    from conductor_loop.bus.writer import append_message
    from conductor_loop.errors import ConductorError

    runs_dir = run_dir.parent
    task_dir = runs_dir.parent
    if (runs_dir.name, task_dir.name, task_dir.parent.name) != (
        RUNS_SUBDIR,
        info.task_id,
        info.project_id,
    ):
        return  # not laid out as <project>/<task>/runs/<run>: no bus of its task to tell
    with contextlib.suppress(ConductorError, OSError):
        append_message(
            task_dir / TASK_BUS_FILE,
            Message(
                type="RUN_CRASH",
                project_id=info.project_id,
                task_id=info.task_id,
                run_id=info.run_id,
                body=f"run {info.run_id} failed: {info.error_summary}",
                meta={"status": STATUS_FAILED, "source": "reconciler"},
            ),
        )


__all__ = ["owner_gone_reason", "parse_iso", "reconcile_run"]
