"""Starting, queueing, resuming, stopping, deleting and adopting task loops.

A started task is a separate ``run-agent task`` process, on this host or on a Ray
node (``executors``: the config's ``executor``); the orchestrator only decides *when*
to start it. Waiting tasks are kept on disk as a
``QUEUED`` marker (see ``queue``), so a restarted server — or another replica — sees the
same queue. Every decision that must happen once across processes rests on the file
system: renaming a queue marker, and the task lock every loop holds (an adopting loop
that cannot take it exits quietly).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from conductor_loop.config.models import Config
from conductor_loop.errors import (
    EXIT_STORAGE,
    ConductorError,
    ConflictError,
    ContainmentError,
    InvalidRequestError,
    StorageError,
    storage_error,
)
from conductor_loop.orchestration.errors import LaunchError
from conductor_loop.orchestration.executors import Executor, LoopHandle, executor_for
from conductor_loop.orchestration.index import QUEUED_FILE, Index, RunEntry, TaskEntry
from conductor_loop.orchestration.launcher import RUNNER_LOG, LaunchSpec
from conductor_loop.orchestration.queue import (
    LoopSettings,
    claim,
    dequeue,
    marker_dependencies,
    write_marker,
)
from conductor_loop.orchestration.rules import (
    check_admission,
    check_agent,
    check_cycle,
    new_task,
    pending_dependencies,
)
from conductor_loop.runner.budget import Budget
from conductor_loop.storage.atomic import atomic_write_text
from conductor_loop.storage.layout import DONE_FILE, RUNS_SUBDIR, TASK_FILE, RunsRoot
from conductor_loop.storage.runinfo import RUN_INFO_FILE, STATUS_RUNNING
from conductor_loop.storage.tail import last_lines

log = logging.getLogger("conductor_loop.orchestration")

FINISHING_GRACE = 5.0  # how long resume waits for a completed loop to exit
_LOG_TAIL = 600


class Counter(Protocol):
    """Counts launched loops (the server's ``Metrics.tasks_launched``)."""

    def inc(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """A new task: its prompt (TASK.md) and how its loop runs."""

    project_id: str
    prompt: str
    task_id: str | None = None  # None: generated from the prompt
    agent: str | None = None  # None: the config's default agent
    depends_on: Sequence[str] = ()
    max_restarts: int | None = None
    restart_delay: float | None = None
    timeout: float | None = None
    cwd: str | None = None
    max_cost_usd: float | None = None
    max_tokens: int | None = None
    budget_action: str | None = None


@dataclass(frozen=True, slots=True)
class Started:
    """A task whose loop was started (``run_id``: its first run, None if that did not
    appear in time) or queued (``queue_position``)."""

    project_id: str
    task_id: str
    run_id: str | None
    status: str  # running, starting, queued
    queue_position: int | None = None


@dataclass(frozen=True, slots=True)
class Done:
    """The outcome of a stop or a delete."""

    project_id: str
    task_id: str
    status: str  # stopping, stopped, deleted
    detail: str = ""


def loop_active(task_dir: Path) -> bool:
    """Whether a ``run-agent task`` loop holds the task's lock (any process, this host)."""
    from conductor_loop.runner.task_loop import task_loop_active

    return task_loop_active(task_dir)


def task_budget(config: Config, task: TaskEntry) -> Budget:
    """The budget the task's loop runs (or ran) under: what it recorded, else what a
    queued task was given over the config's defaults."""
    recorded = Budget.from_json(task.loop_budget)
    if recorded is not None:
        return recorded
    settings = LoopSettings.from_marker(task.queued)
    return Budget.of(
        config.defaults,
        max_cost_usd=settings.max_cost_usd,
        max_tokens=settings.max_tokens,
        action=settings.budget_action,
    )


@dataclass(slots=True)
class LaunchCount:
    """The default ``Counter``: how many loops this orchestrator started."""

    count: int = 0

    def inc(self) -> None:
        self.count += 1


class Orchestrator:
    """The server's task loops: what it started (``_procs``) over what the index shows."""

    def __init__(
        self,
        root: RunsRoot,
        config: Config,
        index: Index,
        *,
        config_path: str | None = None,
        conductor_url: str | None = None,
        first_run_timeout: float = 15.0,
        launched: Counter | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.root = root
        self.config = config
        self.index = index
        self.config_path = config_path
        self.conductor_url = conductor_url
        self.first_run_timeout = first_run_timeout
        self.launched: Counter = launched if launched is not None else LaunchCount()
        self._lock = threading.Lock()
        self.executor = executor if executor is not None else executor_for(config.executor)
        self._procs: dict[tuple[str, str], LoopHandle] = {}
        self._seq = itertools.count(1)

    def queue_positions(self) -> dict[tuple[str, str], int]:
        return {(t.project_id, t.task_id): i for i, t in enumerate(self.index.queue(), 1)}

    # -- creating and starting -------------------------------------------------------

    def create(self, request: TaskRequest) -> Started:
        """Write the task's TASK.md and start its loop, or queue it; an existing task is
        refused (ConflictError), and nothing of a failed create is left behind."""
        spec = new_task(request.project_id, request.task_id, request.prompt, request.depends_on)
        project_id, task_id, prompt = spec.project_id, spec.task_id, request.prompt
        check_admission(self.root, project_id, task_id, prompt=True)
        agent_name = check_agent(self.config, request.agent)
        if request.cwd is not None and not Path(request.cwd).is_dir():
            raise InvalidRequestError(f"cwd {request.cwd!r} is not a directory on the server")
        check_cycle(task_id, spec.depends_on, self._waiting(project_id))
        settings = LoopSettings(
            agent=agent_name,
            max_restarts=request.max_restarts,
            restart_delay=request.restart_delay,
            timeout=request.timeout,
            cwd=request.cwd,
            depends_on=spec.depends_on,
            max_cost_usd=request.max_cost_usd,
            max_tokens=request.max_tokens,
            budget_action=request.budget_action,
        )
        with self._lock:
            task_dir = self.root.task_dir(project_id, task_id)
            check_admission(self.root, project_id, task_id, prompt=True)
            made = _Creation.before(task_dir)
            try:
                self.root.ensure_task_dir(project_id, task_id)
                atomic_write_text(
                    task_dir / TASK_FILE,
                    prompt if prompt.endswith("\n") else prompt + "\n",
                    root=self.root.path,
                )
                if self._must_wait(project_id, spec.depends_on):
                    return self._enqueue(project_id, task_id, settings)
                before = set(self.root.run_ids(project_id, task_id))
                proc = self._launch(project_id, task_id, settings)
            except BaseException:
                self._undo(made)
                raise
        try:
            run_id = self._wait_first_run(task_dir, before, proc)
        except ConductorError:  # the loop exited before its first run
            with self._lock:
                self._undo(made)
            raise
        return _started(project_id, task_id, run_id)

    def _waiting(self, project_id: str) -> dict[str, tuple[str, ...]]:
        """The project's queued tasks and what each waits for."""
        return {
            t.task_id: marker_dependencies(t.queued)
            for t in self.index.tasks(project_id)
            if t.queued is not None
        }

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

    def _loop_alive(self, task: TaskEntry) -> bool:
        """A loop we started that has not exited, or any loop holding the task's lock."""
        proc = self._procs.get((task.project_id, task.task_id))
        return (proc is not None and proc.poll() is None) or loop_active(task.task_dir)

    def _active_count(self) -> int:
        return sum(1 for task in self.index.tasks() if self._loop_alive(task))

    def _slots_full(self) -> bool:
        limit = self.config.defaults.max_concurrent_root_tasks
        return limit > 0 and self._active_count() >= limit

    def _must_wait(self, project_id: str, depends_on: Sequence[str]) -> bool:
        if pending_dependencies(self.root, project_id, depends_on):
            return True
        limit = self.config.defaults.max_concurrent_root_tasks
        if limit > 0 and self.index.queue():
            return True  # first come, first served: do not overtake waiting tasks
        return self._slots_full()

    def _enqueue(self, project_id: str, task_id: str, settings: LoopSettings) -> Started:
        task_dir = self.root.task_dir(project_id, task_id)
        write_marker(self.root, task_dir, settings, next(self._seq))
        self.index.apply([str(task_dir)])
        position = self.queue_positions().get((project_id, task_id))
        log.info("task %s/%s queued at position %s", project_id, task_id, position)
        return Started(project_id, task_id, None, "queued", position)

    def _launch(
        self, project_id: str, task_id: str, settings: LoopSettings, *, adopt: bool = False
    ) -> LoopHandle:
        task_dir = self.root.task_dir(project_id, task_id)
        spec = LaunchSpec(
            project_id=project_id,
            task_id=task_id,
            task_dir=task_dir,
            root=self.root.path,
            config_path=self.config_path,
            agent=settings.agent,
            cwd=settings.cwd,
            max_restarts=settings.max_restarts,
            restart_delay=settings.restart_delay,
            timeout=settings.timeout,
            max_cost_usd=settings.max_cost_usd,
            max_tokens=settings.max_tokens,
            budget_action=settings.budget_action,
            resume=settings.resume,
            adopt=adopt,
            conductor_url=self.conductor_url,
        )
        try:
            proc = self.executor.launch(spec)
        except ContainmentError:
            raise
        except OSError as exc:
            # Only opening runner.log writes here; EACCES could as well be exec's.
            raise storage_error(exc, writing=False) or LaunchError(
                f"could not start run-agent for {project_id}/{task_id}: {exc}"
            ) from exc
        self._procs[(project_id, task_id)] = proc
        self.index.mark_launched(project_id, task_id)
        self.launched.inc()
        log.info(
            "started %s for task %s/%s (%s)",
            "adoption" if adopt else "resume" if settings.resume else "loop",
            project_id,
            task_id,
            f"pid {proc.pid}" if self.executor.name == "local" else f"on {self.executor.name}",
        )
        return proc

    def _wait_first_run(self, task_dir: Path, before: set[str], proc: LoopHandle) -> str | None:
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
                settings = LoopSettings.from_marker(task.queued)
                if pending_dependencies(self.root, task.project_id, settings.depends_on):
                    continue
                if limit > 0 and active >= limit:
                    break
                claimed = claim(task.task_dir)
                if claimed is None:
                    continue  # another replica took it, or it was stopped
                try:
                    self._launch(task.project_id, task.task_id, settings)
                except LaunchError:
                    log.exception(
                        "could not start queued task %s/%s", task.project_id, task.task_id
                    )
                finally:
                    claimed.unlink(missing_ok=True)
                self.index.apply([str(task.task_dir / QUEUED_FILE)])
                active += 1
                started += 1
        return started

    # -- stop, resume, delete --------------------------------------------------------

    def stop(self, task: TaskEntry) -> Done:
        """Take the task off the queue, or ask its loop and runs to stop."""
        from conductor_loop.runner.control import stop_task

        was_queued = dequeue(task.task_dir)
        stop_task(self.root, self.config, task.project_id, task.task_id, wait=False)
        self.index.apply([str(task.task_dir)])
        running = self.index.task_status(task) == "running"
        return Done(
            task.project_id,
            task.task_id,
            "stopping" if running else "stopped",
            "removed from the queue" if was_queued else "stop requested",
        )

    def resume(self, task: TaskEntry) -> Started:
        """Run the task's loop again (or queue it), continuing from its last run."""
        from conductor_loop.runner.task_loop import reopen_task, resume_task

        if task.queued is not None:
            raise ConflictError(f"task {task.project_id}/{task.task_id} is already queued")
        agent = self._resume_agent(task)
        check_agent(self.config, agent)
        settings = LoopSettings(agent=agent, resume=True)
        if task.done:
            # A completed loop may still be exiting (posting its summary): let it finish.
            deadline = time.monotonic() + FINISHING_GRACE
            while loop_active(task.task_dir) and time.monotonic() < deadline:
                time.sleep(0.05)
        with self._lock:
            if loop_active(task.task_dir) or self.index.task_status(task) == "running":
                raise ConflictError(f"task {task.project_id}/{task.task_id} is already running")
            resume_task(self.root, task.project_id, task.task_id)
            if self._must_wait(task.project_id, ()):
                queued = self._enqueue(task.project_id, task.task_id, settings)
                reopen_task(task.task_dir)  # DONE goes once the resume is recorded
                self.index.apply([str(task.task_dir / DONE_FILE)])
                return queued
            before = set(self.root.run_ids(task.project_id, task.task_id))
            # The loop removes DONE itself once it runs: a failed start keeps it.
            proc = self._launch(task.project_id, task.task_id, settings)
        run_id = self._wait_first_run(task.task_dir, before, proc)
        return _started(task.project_id, task.task_id, run_id)

    def _resume_agent(self, task: TaskEntry) -> str:
        """The agent of the task's last run if still configured, else the default one."""
        for entry in reversed(self.index.task_runs(task)):
            if entry.info.agent in self.config.agents and not entry.info.parent_run_id:
                return entry.info.agent
        return self.config.agent(None)[0]

    def delete(self, task: TaskEntry) -> Done:
        """Delete the task and its runs; refused while a loop we started runs it."""
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
        return Done(task.project_id, task.task_id, "deleted")

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
        the task's lock, so exactly one loop runs and the others exit quietly. Loops a
        Ray actor ran are Ray's to restart (``executors.ray``): never both.
        """
        from conductor_loop.runner.task_loop import loop_died, read_loop_state

        adopted = 0
        for task in self.index.tasks():
            key = (task.project_id, task.task_id)
            if key in self._procs or not loop_died(task.task_dir):
                continue
            if read_loop_state(task.task_dir).get("executor") == "ray":
                continue
            try:
                self._launch(task.project_id, task.task_id, LoopSettings(), adopt=True)
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


def _started(project_id: str, task_id: str, run_id: str | None) -> Started:
    return Started(project_id, task_id, run_id, "running" if run_id else "starting")


def _loop_exited(task_dir: Path, proc: LoopHandle) -> bool:
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
