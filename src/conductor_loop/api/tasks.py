"""Tasks through the API: create and start, queue, dependencies, stop, resume, delete.

A started task is a separate ``run-agent task`` process (see ``launcher``); the server
only decides *when* to start it. Waiting tasks are kept on disk as a ``QUEUED`` marker
(JSON: when, in which order, with which settings, waiting for which tasks), so a
restarted server — or another replica — sees the same queue. Launching a queued task
first renames its marker, which only one process can do.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import logging
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conductor_loop.api.metrics import Metrics
from conductor_loop.api.models import TaskCreate
from conductor_loop.config.models import Config
from conductor_loop.errors import (
    EXIT_STORAGE,
    ConductorError,
    ConflictError,
    ContainmentError,
    InvalidRequestError,
    NotFoundError,
    StorageError,
    storage_error,
)
from conductor_loop.orchestration.errors import DependencyCycleError, LaunchError
from conductor_loop.orchestration.index import QUEUED_FILE, Index, RunEntry, TaskEntry
from conductor_loop.orchestration.launcher import RUNNER_LOG, LaunchSpec, launch
from conductor_loop.runner.budget import BUDGET_ACTIONS, Budget, BudgetState, spent
from conductor_loop.storage.atomic import atomic_write_text
from conductor_loop.storage.containment import read_text_inside
from conductor_loop.storage.ids import new_task_id, validate_id
from conductor_loop.storage.layout import (
    DONE_FILE,
    RUNS_SUBDIR,
    TASK_FILE,
    TASK_STATE_FILE,
    RunsRoot,
)
from conductor_loop.storage.runinfo import RUN_INFO_FILE, STATUS_RUNNING, iso_utc
from conductor_loop.storage.tail import last_lines
from conductor_loop.storage.usage import total_figures

log = logging.getLogger("conductor_loop.api")

TASK_FILES = (TASK_FILE, TASK_STATE_FILE)
FINISHING_GRACE = 5.0  # how long resume waits for a completed loop to exit
_LOG_TAIL = 600


def loop_active(task_dir: Path) -> bool:
    """Whether a ``run-agent task`` loop holds the task's lock (any process, this host)."""
    from conductor_loop.runner.task_loop import task_loop_active

    return task_loop_active(task_dir)


class TaskService:
    def __init__(
        self,
        root: RunsRoot,
        config: Config,
        index: Index,
        metrics: Metrics,
        *,
        config_path: str | None = None,
        conductor_url: str | None = None,
        first_run_timeout: float = 15.0,
    ) -> None:
        self.root = root
        self.config = config
        self.index = index
        self.metrics = metrics
        self.config_path = config_path
        self.conductor_url = conductor_url
        self.first_run_timeout = first_run_timeout
        self._lock = threading.Lock()
        self._procs: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        self._seq = itertools.count(1)

    # -- views -----------------------------------------------------------------------

    def queue_positions(self) -> dict[tuple[str, str], int]:
        return {(t.project_id, t.task_id): i for i, t in enumerate(self.index.queue(), 1)}

    def summary(
        self, task: TaskEntry, positions: dict[tuple[str, str], int] | None = None
    ) -> dict[str, Any]:
        runs = self.index.task_runs(task)
        last = runs[-1] if runs else None
        queued = task.queued or {}
        depends_on = [str(d) for d in queued.get("depends_on", []) if isinstance(d, str)]
        waiting_for = [
            d for d in depends_on if not os.path.exists(task.task_dir.parent / d / DONE_FILE)
        ]
        position = None
        if task.queued is not None:
            positions = positions if positions is not None else self.queue_positions()
            position = positions.get((task.project_id, task.task_id))
        return {
            "project_id": task.project_id,
            "task_id": task.task_id,
            "status": self.index.task_status(task),
            "done": task.done,
            "run_count": len(runs),
            "last_run_id": last.info.run_id if last else None,
            "last_run_status": last.info.status if last else None,
            "last_activity": (last.info.end_time or last.info.start_time) if last else None,
            "queue_position": position,
            "depends_on": depends_on,
            "waiting_for": waiting_for,
            "usage": total_figures(r.info.usage for r in runs),
            "stop_reason": task.stop_reason,
        }

    def list_tasks(
        self,
        *,
        project_id: str | None = None,
        status: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> dict[str, Any]:
        positions = self.queue_positions()
        items = [self.summary(t, positions) for t in self.index.tasks(project_id)]
        if status is not None:
            items = [t for t in items if t["status"] == status]
        page = items[offset : None if limit is None else offset + limit]
        return {"tasks": page, "total": len(items), "offset": offset, "limit": limit}

    def get(self, project_id: str, task_id: str) -> TaskEntry:
        validate_id(project_id, "project_id")
        validate_id(task_id, "task_id")
        task = self.index.task(project_id, task_id)
        if task is None:
            raise NotFoundError(f"task {project_id}/{task_id} not found")
        return task

    def resolve(self, task_id: str, project_id: str | None) -> TaskEntry:
        """A task by id alone (unique across projects) or with its project."""
        validate_id(task_id, "task_id")
        if project_id is not None:
            return self.get(project_id, task_id)
        found = self.index.find_tasks(task_id)
        if not found:
            raise NotFoundError(f"task {task_id} not found")
        if len(found) > 1:
            projects = ", ".join(sorted(t.project_id for t in found))
            raise InvalidRequestError(
                f"task id {task_id} exists in several projects ({projects}): pass project_id"
            )
        return found[0]

    def detail(self, task: TaskEntry) -> dict[str, Any]:
        data = self.summary(task)
        data["task_dir"] = str(task.task_dir)
        data["stop_requested"] = task.stop_requested
        runs = self.index.task_runs(task)
        data["budget"] = BudgetState(self.budget(task), spent(e.info for e in runs)).figures()
        data["runs"] = [e.summary() for e in runs]
        return data

    def budget(self, task: TaskEntry) -> Budget:
        """The budget the task's loop runs (or ran) under: what it recorded, else what a
        queued task was given over the config's defaults."""
        recorded = Budget.from_json(task.loop_budget)
        if recorded is not None:
            return recorded
        queued = task.queued or {}
        action = queued.get("budget_action")
        return Budget.of(
            self.config.defaults,
            max_cost_usd=_limit(queued.get("max_cost_usd")),
            max_tokens=_limit(queued.get("max_tokens")),
            action=action if action in BUDGET_ACTIONS else None,
        )

    def read_file(self, task: TaskEntry, name: str) -> dict[str, Any]:
        if name not in TASK_FILES:
            raise InvalidRequestError(f"file must be one of {', '.join(TASK_FILES)}")
        try:
            content = read_text_inside(self.root.path, task.task_dir / name, errors="replace")
        except FileNotFoundError:
            raise NotFoundError(f"task {task.project_id}/{task.task_id} has no {name}") from None
        return {
            "project_id": task.project_id,
            "task_id": task.task_id,
            "name": name,
            "content": content,
        }

    # -- creating and starting -------------------------------------------------------

    def create(self, request: TaskCreate) -> dict[str, Any]:
        project_id = validate_id(request.project_id, "project_id")
        prompt = request.prompt
        if not prompt.strip():
            raise InvalidRequestError("prompt must not be empty")
        task_id = request.task_id or new_task_id(prompt.strip().splitlines()[0])
        validate_id(task_id, "task_id")
        self._refuse_existing(project_id, task_id)
        agent_name, agent_config = self.config.agent(request.agent_type)
        agent_config.resolve_token(agent_name)  # a missing token file: say so now, not as a 500
        if request.cwd is not None and not Path(request.cwd).is_dir():
            raise InvalidRequestError(f"cwd {request.cwd!r} is not a directory on the server")
        depends_on = list(dict.fromkeys(validate_id(d, "depends_on") for d in request.depends_on))
        if task_id in depends_on:
            raise DependencyCycleError(f"task {task_id} cannot depend on itself")
        self._check_cycle(project_id, task_id, depends_on)
        settings = {
            "agent": agent_name,
            "max_restarts": request.max_restarts,
            "restart_delay": request.restart_delay,
            "timeout": request.timeout,
            "cwd": request.cwd,
            "depends_on": depends_on,
            "max_cost_usd": request.max_cost_usd,
            "max_tokens": request.max_tokens,
            "budget_action": request.budget_action,
        }
        with self._lock:
            task_dir = self.root.task_dir(project_id, task_id)
            self._refuse_existing(project_id, task_id)
            made = _Creation.before(task_dir)
            try:
                self.root.ensure_task_dir(project_id, task_id)
                atomic_write_text(
                    task_dir / TASK_FILE,
                    prompt if prompt.endswith("\n") else prompt + "\n",
                    root=self.root.path,
                )
                if self._must_wait(project_id, depends_on):
                    return self._enqueue(project_id, task_id, settings)
                before = set(self.root.run_ids(project_id, task_id))
                proc = self._launch(project_id, task_id, settings, resume=False)
            except BaseException:
                self._undo(made)
                raise
        try:
            run_id = self._wait_first_run(task_dir, before, proc)
        except ConductorError:  # the loop exited before its first run
            with self._lock:
                self._undo(made)
            raise
        return self._started(project_id, task_id, run_id)

    def _undo(self, made: _Creation) -> None:
        """Remove what a failed create made (never what was there before), unless a loop
        or a run has appeared there meanwhile."""
        key = (made.task_dir.parent.name, made.task_dir.name)
        proc = self._procs.get(key)
        if (proc is not None and proc.poll() is None) or loop_active(made.task_dir):
            log.warning("not cleaning up task %s/%s: its loop is running", *key)
            return
        self._procs.pop(key, None)
        try:
            made.undo()
        except OSError as exc:
            log.warning("could not clean up the failed task %s/%s: %s", *key, exc)
        self.index.apply([str(made.task_dir)])

    def _refuse_existing(self, project_id: str, task_id: str) -> None:
        task_dir = self.root.task_dir(project_id, task_id)
        if (task_dir / TASK_FILE).exists() or self.root.run_ids(project_id, task_id):
            raise ConflictError(
                f"task {project_id}/{task_id} already exists: resume it, or delete it first"
            )

    def _started(self, project_id: str, task_id: str, run_id: str | None) -> dict[str, Any]:
        return {
            "project_id": project_id,
            "task_id": task_id,
            "run_id": run_id,
            "status": "running" if run_id else "starting",
            "queue_position": None,
        }

    def _check_cycle(self, project_id: str, task_id: str, depends_on: list[str]) -> None:
        """Reject ``depends_on`` that leads back to ``task_id`` through waiting tasks."""
        if not depends_on:
            return
        edges: dict[str, list[str]] = {}
        for task in self.index.tasks(project_id):
            if task.queued is not None:
                deps = task.queued.get("depends_on", [])
                edges[task.task_id] = [d for d in deps if isinstance(d, str)]
        edges[task_id] = depends_on
        path: list[str] = []
        visiting: set[str] = set()
        done: set[str] = set()

        def visit(node: str) -> None:
            if node in done:
                return
            if node in visiting:
                cycle = " -> ".join([*path[path.index(node) :], node])
                raise DependencyCycleError(f"depends_on would create a cycle: {cycle}")
            visiting.add(node)
            path.append(node)
            for dep in edges.get(node, ()):
                visit(dep)
            path.pop()
            visiting.discard(node)
            done.add(node)

        visit(task_id)

    def _pending_deps(self, project_id: str, depends_on: list[str]) -> list[str]:
        project_dir = self.root.project_dir(project_id)
        return [d for d in depends_on if not (project_dir / d / DONE_FILE).exists()]

    def _loop_alive(self, task: TaskEntry) -> bool:
        """A loop we started that has not exited, or any loop holding the task's lock."""
        proc = self._procs.get((task.project_id, task.task_id))
        return (proc is not None and proc.poll() is None) or loop_active(task.task_dir)

    def _active_count(self) -> int:
        return sum(1 for task in self.index.tasks() if self._loop_alive(task))

    def _slots_full(self) -> bool:
        limit = self.config.defaults.max_concurrent_root_tasks
        return limit > 0 and self._active_count() >= limit

    def _must_wait(self, project_id: str, depends_on: list[str]) -> bool:
        if self._pending_deps(project_id, depends_on):
            return True
        limit = self.config.defaults.max_concurrent_root_tasks
        if limit > 0 and self.index.queue():
            return True  # first come, first served: do not overtake waiting tasks
        return self._slots_full()

    def _enqueue(self, project_id: str, task_id: str, settings: dict[str, Any]) -> dict[str, Any]:
        task_dir = self.root.task_dir(project_id, task_id)
        marker = dict(settings, queued_at=iso_utc(), seq=next(self._seq), pid=os.getpid())
        atomic_write_text(
            task_dir / QUEUED_FILE, json.dumps(marker) + "\n", fsync=False, root=self.root.path
        )
        self.index.apply([str(task_dir)])
        position = self.queue_positions().get((project_id, task_id))
        log.info("task %s/%s queued at position %s", project_id, task_id, position)
        return {
            "project_id": project_id,
            "task_id": task_id,
            "run_id": None,
            "status": "queued",
            "queue_position": position,
        }

    def _launch(
        self,
        project_id: str,
        task_id: str,
        settings: dict[str, Any],
        *,
        resume: bool,
        adopt: bool = False,
    ) -> subprocess.Popen[bytes]:
        task_dir = self.root.task_dir(project_id, task_id)
        spec = LaunchSpec(
            project_id=project_id,
            task_id=task_id,
            task_dir=task_dir,
            root=self.root.path,
            config_path=self.config_path,
            agent=settings.get("agent"),
            cwd=settings.get("cwd"),
            max_restarts=settings.get("max_restarts"),
            restart_delay=settings.get("restart_delay"),
            timeout=settings.get("timeout"),
            max_cost_usd=settings.get("max_cost_usd"),
            max_tokens=settings.get("max_tokens"),
            budget_action=settings.get("budget_action"),
            resume=resume,
            adopt=adopt,
            conductor_url=self.conductor_url,
        )
        try:
            proc = launch(spec)
        except ContainmentError:
            raise
        except OSError as exc:
            # Only opening runner.log writes here; EACCES could as well be exec's.
            raise storage_error(exc, writing=False) or LaunchError(
                f"could not start run-agent for {project_id}/{task_id}: {exc}"
            ) from exc
        self._procs[(project_id, task_id)] = proc
        self.index.mark_launched(project_id, task_id)
        self.metrics.tasks_launched.inc()
        log.info(
            "started %s for task %s/%s (pid %d)",
            "adoption" if adopt else "resume" if resume else "loop",
            project_id,
            task_id,
            proc.pid,
        )
        return proc

    def _wait_first_run(
        self, task_dir: Path, before: set[str], proc: subprocess.Popen[bytes]
    ) -> str | None:
        """The id of the loop's first new run, once its run-info exists (or None on timeout)."""
        runs_dir = task_dir / RUNS_SUBDIR
        deadline = time.monotonic() + self.first_run_timeout
        while True:
            try:
                names = [n for n in os.listdir(runs_dir) if n not in before and n[0] != "."]
            except FileNotFoundError:
                names = []
            ready = sorted(n for n in names if (runs_dir / n / RUN_INFO_FILE).exists())
            if ready:
                return ready[0]
            exited = proc.poll()
            if exited is not None and not ready:
                # One last look: the loop may have finished a run very quickly.
                names = [n for n in os.listdir(runs_dir) if n not in before and n[0] != "."]
                if names:
                    return sorted(names)[0]
                if exited == EXIT_STORAGE:
                    raise _storage_error_at(task_dir, _tail(task_dir / RUNNER_LOG, self.root.path))
                raise LaunchError(
                    f"run-agent exited with status {exited} before starting a run: "
                    + _tail(task_dir / RUNNER_LOG, self.root.path)
                )
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    # -- the queue -------------------------------------------------------------------

    def schedule(self) -> int:
        """Start queued tasks whose dependencies are done, while slots are free."""
        if not self.index.queue():
            return 0
        started = 0
        limit = self.config.defaults.max_concurrent_root_tasks
        with self._lock:
            active = self._active_count() if limit > 0 else 0
            for task in self.index.queue():
                settings = dict(task.queued or {})
                deps = [d for d in settings.get("depends_on", []) if isinstance(d, str)]
                if self._pending_deps(task.project_id, deps):
                    continue
                if limit > 0 and active >= limit:
                    break
                claim = task.task_dir / f".{QUEUED_FILE}.claim-{os.getpid()}"
                try:
                    os.rename(task.task_dir / QUEUED_FILE, claim)
                except FileNotFoundError:
                    continue  # another replica took it, or it was stopped
                try:
                    self._launch(
                        task.project_id, task.task_id, settings, resume=bool(settings.get("resume"))
                    )
                except LaunchError:
                    log.exception(
                        "could not start queued task %s/%s", task.project_id, task.task_id
                    )
                finally:
                    claim.unlink(missing_ok=True)
                self.index.apply([str(task.task_dir / QUEUED_FILE)])
                active += 1
                started += 1
        return started

    # -- stop, resume, delete --------------------------------------------------------

    def stop(self, task: TaskEntry) -> dict[str, Any]:
        from conductor_loop.runner.control import stop_task

        was_queued = self._dequeue(task)
        stop_task(self.root, self.config, task.project_id, task.task_id, wait=False)
        self.index.apply([str(task.task_dir)])
        running = self.index.task_status(task) == "running"
        return {
            "project_id": task.project_id,
            "task_id": task.task_id,
            "status": "stopping" if running else "stopped",
            "detail": "removed from the queue" if was_queued else "stop requested",
        }

    def _dequeue(self, task: TaskEntry) -> bool:
        try:
            os.unlink(task.task_dir / QUEUED_FILE)
        except FileNotFoundError:
            return False
        return True

    def resume(self, task: TaskEntry) -> dict[str, Any]:
        from conductor_loop.runner.task_loop import reopen_task, resume_task

        if task.queued is not None:
            raise ConflictError(f"task {task.project_id}/{task.task_id} is already queued")
        agent = self._resume_agent(task)
        self.config.agent(agent)[1].resolve_token(agent)
        settings = {"resume": True, "agent": agent}
        if task.done:
            # A completed loop may still be exiting (posting its summary): let it finish.
            deadline = time.monotonic() + FINISHING_GRACE
            while loop_active(task.task_dir) and time.monotonic() < deadline:
                time.sleep(0.05)
        with self._lock:
            if loop_active(task.task_dir) or self.index.task_status(task) == "running":
                raise ConflictError(f"task {task.project_id}/{task.task_id} is already running")
            resume_task(self.root, task.project_id, task.task_id)
            if self._must_wait(task.project_id, []):
                queued = self._enqueue(task.project_id, task.task_id, settings)
                reopen_task(task.task_dir)  # DONE goes once the resume is recorded
                self.index.apply([str(task.task_dir / DONE_FILE)])
                return queued
            before = set(self.root.run_ids(task.project_id, task.task_id))
            # The loop removes DONE itself once it runs: a failed start keeps it.
            proc = self._launch(task.project_id, task.task_id, settings, resume=True)
        run_id = self._wait_first_run(task.task_dir, before, proc)
        return self._started(task.project_id, task.task_id, run_id)

    def _resume_agent(self, task: TaskEntry) -> str:
        """The agent of the task's last run if still configured, else the default one."""
        for entry in reversed(self.index.task_runs(task)):
            if entry.info.agent in self.config.agents and not entry.info.parent_run_id:
                return entry.info.agent
        return self.config.agent(None)[0]

    def delete(self, task: TaskEntry) -> dict[str, Any]:
        from conductor_loop.runner.control import delete_task

        with self._lock:
            proc = self._procs.get((task.project_id, task.task_id))
            if proc is not None and proc.poll() is None and _loop_exited(task.task_dir, proc):
                # Its loop has ended (the task no longer reads running): the process is
                # on its way out.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(FINISHING_GRACE)
            if proc is not None and proc.poll() is None:
                raise ConflictError(
                    f"task {task.project_id}/{task.task_id} is running; stop it first"
                )
            delete_task(self.root, self.config, task.project_id, task.task_id)
            self._procs.pop((task.project_id, task.task_id), None)
        self.index.apply([str(task.task_dir)])
        return {
            "project_id": task.project_id,
            "task_id": task.task_id,
            "status": "deleted",
            "detail": "",
        }

    # -- maintenance -----------------------------------------------------------------

    def sweep(self) -> None:
        """Reap finished loops, refresh which loops are alive, reconcile dead runs."""
        for key, proc in list(self._procs.items()):
            if proc.poll() is not None:
                self._procs.pop(key, None)
        self.adopt_orphaned_loops()
        flags = {(t.project_id, t.task_id): self._loop_alive(t) for t in self.index.tasks()}
        self.index.set_loop_active(flags)
        for entry in self.index.running_runs():
            self.reconcile(entry)
        self.schedule()

    def adopt_orphaned_loops(self) -> int:
        """Resume loops whose runner died (server or container restart, replica lost).

        Several servers may try at once: the adopting ``run-agent task --adopt`` must take
        the task's lock, so exactly one loop runs and the others exit quietly.
        """
        from conductor_loop.runner.task_loop import loop_died

        adopted = 0
        for task in self.index.tasks():
            key = (task.project_id, task.task_id)
            if key in self._procs or not loop_died(task.task_dir):
                continue
            try:
                self._launch(task.project_id, task.task_id, {}, resume=False, adopt=True)
            except LaunchError as exc:
                log.error("could not adopt task %s/%s: %s", *key, exc)
                continue
            adopted += 1
        return adopted

    def reconcile(self, entry: RunEntry) -> RunEntry:
        """The run with ``running`` turned into ``failed`` when its owner is gone."""
        if entry.info.status != STATUS_RUNNING:
            return entry
        from conductor_loop.runner.liveness import reconcile_run

        try:
            info = reconcile_run(
                entry.run_dir,
                entry.info,
                heartbeat_timeout=self.config.defaults.heartbeat_timeout,
            )
        except (FileNotFoundError, ValueError):
            return entry
        if info.status != entry.info.status:
            self.index.replace_info(info.run_id, info)
            return self.index.run(info.run_id) or entry
        return entry


def _limit(value: Any) -> Any:
    """A budget limit from a queue marker: a number not below 0, else None (not given)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if value >= 0 else None


def _loop_exited(task_dir: Path, proc: subprocess.Popen[bytes]) -> bool:
    """Whether the loop ``proc`` runs has recorded its end and let go of the task lock."""
    from conductor_loop.runner.task_loop import read_loop_state

    state = read_loop_state(task_dir)
    return (
        state.get("pid") == proc.pid
        and state.get("state") == "exited"
        and not loop_active(task_dir)
    )


@dataclass(frozen=True, slots=True)
class _Creation:
    """What was in a task's place before it was created, so that a failed create can
    remove exactly what it made."""

    task_dir: Path
    existing: frozenset[str] | None  # names in the task dir; None: there was no task dir
    project_existed: bool

    @classmethod
    def before(cls, task_dir: Path) -> _Creation:
        try:
            existing: frozenset[str] | None = frozenset(os.listdir(task_dir))
        except FileNotFoundError:
            existing = None
        return cls(task_dir, existing, task_dir.parent.is_dir())

    def undo(self) -> None:
        runs_dir = self.task_dir / RUNS_SUBDIR
        with contextlib.suppress(FileNotFoundError):
            if any(not name.startswith(".") for name in os.listdir(runs_dir)):
                return  # a run was recorded after all: that is not ours to delete
        if self.existing is None:
            shutil.rmtree(self.task_dir, ignore_errors=True)
        else:
            for name in set(os.listdir(self.task_dir)) - self.existing:
                path = self.task_dir / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        if not self.project_existed:
            with contextlib.suppress(OSError):
                os.rmdir(self.task_dir.parent)  # only if nothing else came to be there


def _storage_error_at(task_dir: Path, log_tail: str) -> StorageError:
    """Why ``run-agent`` exited with EXIT_STORAGE: it could not write under ``task_dir``.
    Its own ``error:`` line may not have reached its log on a full disk, so look."""
    err = errno.EACCES
    with contextlib.suppress(OSError):
        stat = os.statvfs(task_dir)
        if stat.f_flag & os.ST_RDONLY:
            err = errno.EROFS
        elif stat.f_bavail == 0:
            err = errno.ENOSPC
    said = [line for line in log_tail.splitlines() if line.startswith("error: ")]
    return StorageError(err, task_dir, detail=f"run-agent: {said[-1][7:]}" if said else "")


def _tail(path: Path, root: Path) -> str:
    """The last lines the runner wrote to its log (why it did not start)."""
    try:
        text = last_lines(path, 8, root).decode("utf-8", "replace").strip()
    except OSError:
        return "(no output)"
    return text[-_LOG_TAIL:] or "(no output)"
