"""Stopping, deleting and garbage-collecting runs and tasks from any process.

Every stop goes through a stop-request file (so it works across processes, replicas
and containers); the caller then waits for the owner to record the outcome. A run whose
owner is gone is reconciled instead (its orphaned agent, if any, is terminated).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from conductor_loop.config.models import Config
from conductor_loop.errors import ConflictError, NotFoundError
from conductor_loop.runner.liveness import parse_iso, reconcile_run
from conductor_loop.runner.stop_request import request_stop
from conductor_loop.runner.task_loop import task_loop_active, task_runs
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import (
    STATUS_FAILED,
    STATUS_RUNNING,
    RunInfo,
    RunInfoError,
    read_run_info,
)


def find_run_dir(
    root: RunsRoot, run_id: str, *, project_id: str | None = None, task_id: str | None = None
) -> Path:
    """Locate a run by id (searching the tree when project/task are not given)."""
    from conductor_loop.storage.ids import validate_id

    validate_id(run_id, "run_id")
    if project_id and task_id:
        run_dir = root.run_dir(project_id, task_id, run_id)
        if run_dir.is_dir():
            return run_dir
    else:
        projects = [project_id] if project_id else root.project_ids()
        for project in projects:
            for task in [task_id] if task_id else root.task_ids(project):
                run_dir = root.run_dir(project, task, run_id)
                if run_dir.is_dir():
                    return run_dir
    raise NotFoundError(f"run {run_id} not found under {root.path}")


def wait_finished(run_dir: Path, timeout: float, *, interval: float = 0.1) -> RunInfo:
    """Poll the run until it is no longer running (or ``timeout``); returns its info."""
    deadline = time.monotonic() + timeout
    while True:
        info = reconcile_run(run_dir)
        if info.status != STATUS_RUNNING or time.monotonic() >= deadline:
            return info
        time.sleep(interval)


def stop_run(
    run_dir: Path, config: Config, *, force: bool = False, wait: bool = True, reason: str = ""
) -> RunInfo:
    """Request a stop of one run and (by default) wait until its owner records it."""
    info = reconcile_run(run_dir)
    if info.status != STATUS_RUNNING:
        return info
    request_stop(run_dir, force=force, reason=reason)
    if not wait:
        return info
    grace = 0.0 if force else config.defaults.stop_grace_period
    return wait_finished(run_dir, grace + 10.0)


def stop_task(
    root: RunsRoot,
    config: Config,
    project_id: str,
    task_id: str,
    *,
    force: bool = False,
    wait: bool = True,
    reason: str = "task stop",
) -> list[RunInfo]:
    """Stop the task's loop and every running run in it (children included)."""
    task_dir = root.existing_task_dir(project_id, task_id)
    request_stop(task_dir, force=force, reason=reason)
    running = [
        root.run_dir(project_id, task_id, info.run_id)
        for info in task_runs(root.runs_dir(project_id, task_id))
        if info.status == STATUS_RUNNING
    ]
    for run_dir in running:
        request_stop(run_dir, force=force, reason=reason)
    if not wait:
        return []
    grace = 0.0 if force else config.defaults.stop_grace_period
    results = [wait_finished(run_dir, grace + 10.0) for run_dir in running]
    deadline = time.monotonic() + grace + 10.0
    while task_loop_active(task_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    return results


def delete_task(
    root: RunsRoot, config: Config, project_id: str, task_id: str, *, force: bool = False
) -> None:
    task_dir = root.existing_task_dir(project_id, task_id)
    busy = task_loop_active(task_dir) or any(
        i.status == STATUS_RUNNING for i in task_runs(root.runs_dir(project_id, task_id))
    )
    if busy:
        if not force:
            raise ConflictError(
                f"task {project_id}/{task_id} is running; stop it first (or use --force)"
            )
        stop_task(root, config, project_id, task_id, force=True)
    shutil.rmtree(task_dir)


def delete_run(run_dir: Path) -> None:
    info = reconcile_run(run_dir)
    if info.status == STATUS_RUNNING:
        raise ConflictError(f"run {info.run_id} is running; stop it first")
    shutil.rmtree(run_dir)


@dataclass(slots=True)
class GcItem:
    path: Path
    run_id: str
    status: str
    age_seconds: float


def collect_garbage(
    root: RunsRoot,
    *,
    older_than: float,
    dry_run: bool = False,
    keep_failed: bool = False,
    now: float | None = None,
) -> list[GcItem]:
    """Delete finished runs that ended more than ``older_than`` seconds ago."""
    now = time.time() if now is None else now
    removed: list[GcItem] = []
    for _project, _task, run_id, run_dir in list(root.iter_run_dirs()):
        try:
            info = reconcile_run(run_dir)
        except (FileNotFoundError, RunInfoError):
            continue
        if info.status == STATUS_RUNNING:
            continue
        if keep_failed and info.status == STATUS_FAILED:
            continue
        ended = parse_iso(info.end_time) or parse_iso(info.start_time)
        if ended is None:
            with contextlib.suppress(OSError):
                ended = os.stat(run_dir).st_mtime
        if ended is None or now - ended < older_than:
            continue
        removed.append(GcItem(run_dir, run_id, info.status, now - ended))
        if not dry_run:
            shutil.rmtree(run_dir, ignore_errors=True)
    return removed


def read_info_or_none(run_dir: Path) -> RunInfo | None:
    try:
        return reconcile_run(run_dir, read_run_info(run_dir))
    except (FileNotFoundError, RunInfoError):
        return None


def rotate_buses(root: RunsRoot, limit: int, *, dry_run: bool = False) -> list[Path]:
    """Archive bus files larger than ``limit`` bytes (``<file>.<stamp>.archived``)."""
    from conductor_loop.bus.writer import BusWriter

    candidates = [root.project_bus(p) for p in root.project_ids()]
    candidates += [root.task_bus(p, t) for p in root.project_ids() for t in root.task_ids(p)]
    rotated = []
    for path in candidates:
        try:
            if os.path.getsize(path) <= limit:
                continue
        except OSError:
            continue
        rotated.append(path)
        if not dry_run:
            with BusWriter(path) as writer:
                writer.rotate_now()
    return rotated
