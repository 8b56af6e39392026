"""The Ralph loop (``run-agent task``): restart the root agent until the task is DONE
and every child run it spawned has exited (spec §6).

One loop per task at a time, across processes and containers sharing the runs root: the
loop holds an exclusive ``flock`` on ``<task>/.task.lock`` for its whole life. The loop
also records its settings and state in ``<task>/.loop.json``; a loop whose state still
says ``running`` while nobody holds the lock has died (its runner was killed, or its
container went away), and any server sharing the runs root may adopt it (``adopt``).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conductor_loop.bus.message import Message
from conductor_loop.bus.writer import append_message
from conductor_loop.config.models import Config
from conductor_loop.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    storage_writes,
)
from conductor_loop.runner.budget import (
    ACTION_STOP_RUN,
    BUDGET_EXCEEDED,
    REASON_PREFIX,
    Budget,
    BudgetState,
    crossing_run,
    dollars,
    spent,
)
from conductor_loop.runner.job import JobResult, JobRunner, JobSpec
from conductor_loop.runner.liveness import reconcile_run
from conductor_loop.runner.placement import loop_executor
from conductor_loop.runner.stop_request import (
    STOP_REQUEST_FILE,
    clear_stop_request,
    stop_request_reason,
)
from conductor_loop.storage.atomic import atomic_write_text
from conductor_loop.storage.containment import check_inside, open_nofollow, read_text_inside
from conductor_loop.storage.layout import DONE_FILE, LOOP_STATE_FILE, TASK_FILE, RunsRoot
from conductor_loop.storage.locks import lock_is_held, take_lock
from conductor_loop.storage.runinfo import (
    STATUS_COMPLETED,
    STATUS_RUNNING,
    STATUS_STOPPED,
    RunInfo,
    RunInfoError,
    iso_utc,
    read_run_info,
)

INTERRUPTED = "interrupted"  # cut off by a shutdown: left for a server to resume
TASK_LOCK_FILE = ".task.lock"
COMPLETION_MARKER = ".completion-fact"
BUDGET_MARKER = ".budget-exceeded"  # which limits the last BUDGET_EXCEEDED message was for
STOPPED_BY_BUDGET = "budget"


@dataclass(slots=True)
class TaskSettings:
    agent: str | None = None
    cwd: Path | None = None
    max_restarts: int | None = None
    restart_delay: float | None = None
    child_wait_timeout: float | None = None
    child_poll_interval: float | None = None
    timeout: float | None = None
    depends_on: tuple[str, ...] = ()
    resume: bool = False
    # The task's own budget (None: the config's defaults; 0: no limit), kept in .loop.json.
    max_cost_usd: float | None = None
    max_tokens: int | None = None
    budget_action: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {f: getattr(self, f) for f in _SETTING_FIELDS}
        data["cwd"] = str(self.cwd) if self.cwd else None
        data["depends_on"] = list(self.depends_on)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskSettings:
        known = {k: v for k, v in data.items() if k in _SETTING_FIELDS}
        if known.get("cwd"):
            known["cwd"] = Path(known["cwd"])
        known["depends_on"] = tuple(known.get("depends_on") or ())
        return cls(**known)

    def overridden_by(self, other: TaskSettings) -> TaskSettings:
        """These settings with every field ``other`` sets (not None/empty) taking over."""
        merged = self.to_json()
        for key, value in other.to_json().items():
            if value not in (None, [], False):
                merged[key] = value
        return TaskSettings.from_json(merged)


_SETTING_FIELDS = (
    "agent",
    "cwd",
    "max_restarts",
    "restart_delay",
    "child_wait_timeout",
    "child_poll_interval",
    "timeout",
    "depends_on",
    "max_cost_usd",
    "max_tokens",
    "budget_action",
)
_BUDGET_FIELDS = ("max_cost_usd", "max_tokens", "budget_action")


def read_loop_state(task_dir: Path) -> dict[str, Any]:
    """The task's ``.loop.json`` ({} if absent, unreadable or a symlink)."""
    try:
        with open(task_dir / LOOP_STATE_FILE, "rb", opener=open_nofollow) as handle:
            data = json.loads(handle.read())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_loop_state(root: Path, task_dir: Path, state: dict[str, Any]) -> None:
    atomic_write_text(
        task_dir / LOOP_STATE_FILE, json.dumps(state, indent=1) + "\n", fsync=True, root=root
    )


def loop_died(task_dir: Path) -> bool:
    """A loop ran this task, never recorded its end, and nobody holds its lock now."""
    return read_loop_state(task_dir).get("state") == "running" and not task_loop_active(task_dir)


@dataclass(slots=True)
class TaskOutcome:
    status: str  # completed, stopped, failed
    runs: list[JobResult]
    message: str
    stopped_by: str = ""  # "budget" when the task's budget stopped it


@contextlib.contextmanager
def task_lock(task_dir: Path) -> Iterator[None]:
    """Exclusive ownership of the task's loop; ConflictError if another loop has it."""
    lock_path = task_dir / TASK_LOCK_FILE
    try:
        fd = take_lock(lock_path, blocking=False)
    except BlockingIOError:
        try:
            holder = lock_path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            holder = ""
        raise ConflictError(
            f"task {task_dir.name} is already being run by another loop ({holder or 'unknown'})"
        ) from None
    try:
        from conductor_loop.runner.identity import instance_id

        with storage_writes(lock_path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {instance_id()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def task_loop_active(task_dir: Path) -> bool:
    """Whether some process currently holds the task's loop lock."""
    return lock_is_held(task_dir / TASK_LOCK_FILE) is True


def task_runs(task_runs_dir: Path) -> list[RunInfo]:
    """Run-infos of a task, oldest first (run ids sort by time), reconciled."""
    infos = []
    try:
        names = sorted(
            e.name for e in os.scandir(task_runs_dir) if e.is_dir() and not e.name.startswith(".")
        )
    except FileNotFoundError:
        return []
    for name in names:
        run_dir = task_runs_dir / name
        with contextlib.suppress(FileNotFoundError, RunInfoError):
            info = read_run_info(run_dir)
            if info.status == STATUS_RUNNING:
                info = reconcile_run(run_dir, info)
            infos.append(info)
    return infos


class TaskLoop:
    """Runs one task's loop; ``stop`` ends it (like a stop request on the task)."""

    def __init__(
        self,
        root: RunsRoot,
        config: Config,
        project_id: str,
        task_id: str,
        settings: TaskSettings,
        *,
        stop: threading.Event | None = None,
        shutdown: threading.Event | None = None,
        on_run_start: Callable[[RunInfo], None] | None = None,
        on_loop_start: Callable[[], None] | None = None,
    ) -> None:
        self.root = root
        self.config = config
        self.project_id = project_id
        self.task_id = task_id
        self.settings = settings
        self.stop = stop or threading.Event()
        self.shutdown = shutdown or threading.Event()
        self.task_dir = root.task_dir(project_id, task_id)
        self.runs_dir = root.runs_dir(project_id, task_id)
        self.on_loop_start = on_loop_start  # once the loop owns the task and will run it
        self.jobs = JobRunner(
            root, config, stop=self.stop, shutdown=self.shutdown, on_start=on_run_start
        )
        self.budget = Budget()  # set by ``run`` from the settings and the config
        self._budget_hit: BudgetState | None = None  # set by the watch that stopped runs
        self._warned_unknown_cost = False

    # -- messages -----------------------------------------------------------------------

    def _post(
        self,
        msg_type: str,
        body: str,
        *,
        project: bool = False,
        run_id: str = "",
        figures: dict[str, str] | None = None,
        **meta: str,
    ) -> None:
        path = (
            self.root.project_bus(self.project_id)
            if project
            else self.root.task_bus(self.project_id, self.task_id)
        )
        with contextlib.suppress(Exception):
            append_message(
                path,
                Message(
                    type=msg_type,
                    project_id=self.project_id,
                    task_id=self.task_id,
                    run_id=run_id,
                    body=body,
                    meta={"source": "task-loop", **meta, **(figures or {})},
                ),
                fsync=self.config.storage.bus_fsync,
                root=self.root.path,
            )

    # -- waiting ------------------------------------------------------------------------

    def _stop_requested(self) -> bool:
        return self.stop.is_set() or (self.task_dir / STOP_REQUEST_FILE).exists()

    def _sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if a stop was requested meanwhile."""
        deadline = time.monotonic() + seconds
        while True:
            if self._stop_requested():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.stop.wait(min(remaining, 0.2))

    def _live_children(self, root_run_ids: set[str]) -> list[RunInfo]:
        return [
            info
            for info in task_runs(self.runs_dir)
            if info.status == STATUS_RUNNING and info.run_id not in root_run_ids
        ]

    def _wait_dependencies(self) -> bool:
        """Wait until every task in ``depends_on`` is DONE; True if stopped meanwhile."""
        pending = list(self.settings.depends_on)
        announced = False
        while pending:
            pending = [
                t
                for t in pending
                if not (self.root.task_dir(self.project_id, t) / DONE_FILE).exists()
            ]
            if not pending:
                break
            if not announced:
                self._post("INFO", f"waiting for dependencies: {', '.join(pending)}")
                announced = True
            if self._sleep(self.config.defaults.child_poll_interval):
                return True
        return False

    # -- the loop -----------------------------------------------------------------------

    def run(
        self,
        prompt: str | None = None,
        *,
        admit: Callable[[], None] | None,
        adopt: bool = False,
        reopen: bool = False,
        replace: bool = False,
    ) -> TaskOutcome:
        """Run the loop. ``prompt`` becomes TASK.md of a new task. ``admit`` is called
        once this loop owns the task and refuses (raises) to run it as asked — the
        caller's rule for an existing task (``orchestration.rules.check_admission``:
        ``reopen`` continues it as it is, ``replace`` rewrites its TASK.md). TASK.md is
        written only after that, and DONE removed only once the loop has also recorded
        that it runs: a loop that is refused changes nothing.

        ``adopt``: continue a loop that died elsewhere, with its settings (explicit
        settings still win), honouring a stop that was requested meanwhile; ``admit``
        is not called."""
        from conductor_loop.runner.identity import instance_id

        if reopen and not replace:
            self.root.existing_task_dir(self.project_id, self.task_id)
        self.root.ensure_task_dir(self.project_id, self.task_id)
        task_file = self.task_dir / TASK_FILE
        with task_lock(self.task_dir):
            if not adopt:
                if admit is not None:
                    admit()
                if prompt is not None:
                    atomic_write_text(
                        task_file,
                        prompt if prompt.endswith("\n") else prompt + "\n",
                        root=self.root.path,
                    )
            previous = read_loop_state(self.task_dir)
            if adopt:
                if previous.get("state") != "running":
                    return TaskOutcome("skipped", [], "nothing to adopt: the loop ended normally")
                saved = TaskSettings.from_json(previous.get("settings") or {})
                self.settings = saved.overridden_by(self.settings)
                self.settings.resume = True
                self._post(
                    "INFO",
                    f"loop adopted by {instance_id()} (pid {os.getpid()}); previous owner "
                    f"{previous.get('instance_id', '?')} pid {previous.get('pid', '?')} is gone",
                    kind="adopted",
                )
            else:
                clear_stop_request(self.task_dir)
                if reopen:
                    self._keep_budget(previous)
            s = self.settings
            self.budget = Budget.of(
                self.config.defaults,
                max_cost_usd=s.max_cost_usd,
                max_tokens=s.max_tokens,
                action=s.budget_action,
            )
            state = {
                "state": "running",
                "executor": loop_executor(self.project_id, self.task_id),
                "instance_id": instance_id(),
                "pid": os.getpid(),
                "started_at": iso_utc(),
                "settings": self.settings.to_json(),
                "budget": self.budget.to_json(),
            }
            _write_loop_state(self.root.path, self.task_dir, state)
            if reopen or replace:
                reopen_task(self.task_dir)
            if self.on_loop_start is not None:
                self.on_loop_start()
            outcome = TaskOutcome("failed", [], "runner error")
            stop_runs = self.budget.limited and self.budget.action == ACTION_STOP_RUN
            watch = _BudgetWatch(self) if stop_runs else None
            try:
                if watch is not None:
                    watch.start()
                outcome = self._run_locked(task_file)
                return outcome
            finally:
                if watch is not None:
                    watch.close()
                if outcome.status == INTERRUPTED:
                    state["interrupted_at"] = iso_utc()  # still "running": to be resumed
                else:
                    state.update(state="exited", outcome=outcome.status, ended_at=iso_utc())
                    if outcome.status == STATUS_STOPPED:
                        state["stop_reason"] = outcome.message
                    if outcome.stopped_by:
                        state["stopped_by"] = outcome.stopped_by
                with contextlib.suppress(OSError):
                    _write_loop_state(self.root.path, self.task_dir, state)

    def _run_locked(self, task_file: Path) -> TaskOutcome:
        defaults = self.config.defaults
        s = self.settings
        max_restarts = defaults.max_restarts if s.max_restarts is None else s.max_restarts
        restart_delay = defaults.restart_delay if s.restart_delay is None else s.restart_delay
        child_wait = (
            defaults.child_wait_timeout if s.child_wait_timeout is None else s.child_wait_timeout
        )
        child_poll = (
            defaults.child_poll_interval if s.child_poll_interval is None else s.child_poll_interval
        )

        if self._wait_dependencies():
            return self._halted([], " while waiting for dependencies")
        history = task_runs(self.runs_dir)
        root_ids = {i.run_id for i in history if not i.parent_run_id}
        last_root = next((i.run_id for i in reversed(history) if not i.parent_run_id), "")
        results: list[JobResult] = []
        iteration = 0
        while True:
            if self._stop_requested():
                return self._halted(results, "")
            if (self.task_dir / DONE_FILE).exists():
                return self._complete(results, root_ids, last_root, child_wait, child_poll)
            if self.budget.limited and (over := self._over_budget()) is not None:
                return self._stop_for_budget(results, over)
            if iteration > max_restarts:
                message = f"task did not finish after {max_restarts} restarts"
                self._post("ERROR", message)
                return TaskOutcome("failed", results, message)
            try:
                prompt = read_text_inside(self.root.path, task_file)
            except FileNotFoundError:
                raise InvalidRequestError(
                    f"task {self.task_id} has no TASK.md: give --prompt or --prompt-file"
                ) from None
            if not prompt.strip():
                raise InvalidRequestError(f"TASK.md of task {self.task_id} is empty")
            result = self.jobs.run(
                JobSpec(
                    project_id=self.project_id,
                    task_id=self.task_id,
                    prompt=prompt,
                    agent=s.agent,
                    cwd=s.cwd,
                    previous_run_id=last_root,
                    timeout=s.timeout,
                    restart=bool(last_root) or s.resume,
                )
            )
            results.append(result)
            root_ids.add(result.run_id)
            last_root = result.run_id
            iteration += 1
            if self.shutdown.is_set():
                return self._halted(results, "")
            if result.status == STATUS_STOPPED:
                if (over := self._budget_stop()) is not None:
                    return self._stop_for_budget(results, over)
                self._post("INFO", f"task stopped: {result.error_summary}", run_id=result.run_id)
                return TaskOutcome(STATUS_STOPPED, results, result.error_summary)
            if not result.agent_started:
                # Restarting cannot help when the agent cannot even be started.
                message = f"giving up: {result.error_summary}"
                self._post("ERROR", message, run_id=result.run_id)
                return TaskOutcome("failed", results, message)
            if (self.task_dir / DONE_FILE).exists():
                continue
            if self._sleep(restart_delay):
                continue

    def _halted(self, results: list[JobResult], where: str) -> TaskOutcome:
        """The loop ends early: a shutdown (resumable) or a stop (final)."""
        if self.shutdown.is_set():
            self._post("INFO", f"loop interrupted by a shutdown{where}; a server will resume it")
            return TaskOutcome(INTERRUPTED, results, f"interrupted by a shutdown{where}")
        if (over := self._budget_stop()) is not None:
            return self._stop_for_budget(results, over)
        self._post("INFO", f"task stopped by request{where}")
        return TaskOutcome(STATUS_STOPPED, results, f"stopped by request{where}")

    def _complete(
        self,
        results: list[JobResult],
        root_ids: set[str],
        last_root: str,
        child_wait: float,
        child_poll: float,
    ) -> TaskOutcome:
        deadline = time.monotonic() + child_wait
        children = self._live_children(root_ids)
        while children:
            if time.monotonic() >= deadline:
                ids = ", ".join(c.run_id for c in children)
                self._post(
                    "WARNING",
                    f"DONE written but child runs still running after {child_wait:g}s: {ids}; "
                    "completing anyway",
                )
                break
            if self._sleep(min(child_poll, max(0.0, deadline - time.monotonic()))):
                return self._halted(results, " while waiting for child runs")
            children = self._live_children(root_ids)
        self._post_completion_fact(last_root)
        return TaskOutcome(STATUS_COMPLETED, results, "task complete")

    def _post_completion_fact(self, last_run_id: str) -> None:
        """One FACT per completion, even if the loop is restarted after completing."""
        marker = self.task_dir / COMPLETION_MARKER
        root = self.root.path
        try:
            if read_text_inside(root, marker).strip() == last_run_id:
                return
        except FileNotFoundError:
            pass
        runs = task_runs(self.runs_dir)
        roots = [r for r in runs if not r.parent_run_id]
        body = (
            f"Task {self.task_id} completed after {len(roots)} run(s)"
            + (f" ({len(runs) - len(roots)} child run(s))" if len(runs) > len(roots) else "")
            + (f"; last run {last_run_id}" if last_run_id else "")
        )
        state = self.task_dir / "TASK_STATE.md"
        with contextlib.suppress(OSError):
            text = read_text_inside(root, state).strip()
            if text:
                body += "\n\n" + text
        self._post("FACT", body, project=True, run_id=last_run_id, kind="task_completed")
        atomic_write_text(marker, last_run_id + "\n", fsync=False, root=root)

    # -- the budget ---------------------------------------------------------------------

    def _keep_budget(self, previous: dict[str, Any]) -> None:
        """A resumed task keeps the budget its last loop had, unless given a new one."""
        saved = TaskSettings.from_json(previous.get("settings") or {})
        for name in _BUDGET_FIELDS:
            if getattr(self.settings, name) is None:
                setattr(self.settings, name, getattr(saved, name))

    def _budget_state(self) -> BudgetState:
        return BudgetState(self.budget, spent(task_runs(self.runs_dir)))

    def _over_budget(self) -> BudgetState | None:
        """The task's budget state if its runs have reached the budget, else None."""
        state = self._budget_state()
        unknown = state.spent.unknown_cost
        if unknown and self.budget.max_cost_usd is not None and not self._warned_unknown_cost:
            self._warned_unknown_cost = True
            self._post(
                "WARNING",
                f"cost budget: run {unknown[0]} has no known cost (its agent reported none and "
                "has no pricing in the config, or the run ended before reporting); it counts "
                f"as $0 toward max_cost_usd {self.budget.max_cost_usd:g}",
                run_id=unknown[0],
                kind="budget_unknown_cost",
            )
        return state if state.exceeded else None

    def _budget_stop(self) -> BudgetState | None:
        """The budget state if the stop that ended a run or the loop was the budget's."""
        if self._budget_hit is None and not stop_request_reason(self.task_dir).startswith(
            REASON_PREFIX
        ):
            return None
        state = self._budget_state()
        return state if state.exceeded else None

    def _stop_running_runs(self, reason: str) -> None:
        """Stop the task's running runs the way a user's stop does, giving ``reason``."""
        from conductor_loop.runner.control import stop_task

        with contextlib.suppress(Exception):  # the loop ends anyway; the runs may be gone
            stop_task(
                self.root, self.config, self.project_id, self.task_id, wait=False, reason=reason
            )

    def _stop_for_budget(self, results: list[JobResult], state: BudgetState) -> TaskOutcome:
        reason = state.reason()
        if self.budget.action == ACTION_STOP_RUN:
            self._stop_running_runs(reason)
        self._post_budget_exceeded(state)
        return TaskOutcome(STATUS_STOPPED, results, reason, stopped_by=STOPPED_BY_BUDGET)

    def _post_budget_exceeded(self, state: BudgetState) -> None:
        """One BUDGET_EXCEEDED per budget reached, even if the loop is started again (or
        adopted) afterwards; a task resumed with another budget gets its own."""
        marker = self.task_dir / BUDGET_MARKER
        root = self.root.path
        key = state.key()
        try:
            if read_text_inside(root, marker).strip() == key:
                return
        except FileNotFoundError:
            pass
        runs = task_runs(self.runs_dir)
        going = sum(r.status == STATUS_RUNNING for r in runs)
        body = (
            f"Task {self.task_id} stopped: {state.reason()}. Its {len(runs)} run(s) spent "
            f"${dollars(state.spent.cost_usd)} and {state.spent.tokens:,} tokens; the loop "
            "starts no further run"
        )
        if going:
            body += (
                f"; its {going} running run(s) are being stopped"
                if self.budget.action == ACTION_STOP_RUN
                else f"; {going} run(s) still going may finish (budget_action: finish_run)"
            )
        self._post(
            BUDGET_EXCEEDED,
            body + ".",
            run_id=crossing_run(self.budget, runs),
            kind="budget_exceeded",
            figures=state.meta(),
        )
        atomic_write_text(marker, key + "\n", fsync=False, root=root)


class _BudgetWatch:
    """For ``budget_action: stop_run``: while the loop runs, re-check the task's total
    whenever one of its runs ends (a child ending while the root runs) and, once the
    budget is reached, stop the task's running runs. Usage is known only at a run's end,
    so the check runs on ends, never in the middle of a run."""

    def __init__(self, loop: TaskLoop) -> None:
        self.loop = loop
        poll = loop.config.defaults.child_poll_interval
        if loop.settings.child_poll_interval is not None:
            poll = loop.settings.child_poll_interval
        self.interval = min(max(poll, 0.05), 1.0)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="budget-watch", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join(5)

    def _watch(self) -> None:
        ended: dict[str, RunInfo] = {}
        while not self.done.wait(self.interval):
            with contextlib.suppress(OSError):
                if not self._read_ended(ended):
                    continue
                state = BudgetState(self.loop.budget, spent(ended.values()))
                if state.exceeded:
                    self.loop._budget_hit = state
                    self.loop._stop_running_runs(state.reason())
                    return

    def _read_ended(self, ended: dict[str, RunInfo]) -> bool:
        """Add the runs that ended since the last look; True if there were any. A run's
        record is read until it has ended, then never again."""
        runs_dir = self.loop.runs_dir
        try:
            names = [
                e.name
                for e in os.scandir(runs_dir)
                if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
            ]
        except FileNotFoundError:
            return False
        changed = False
        for name in names:
            if name in ended:
                continue
            try:
                info = read_run_info(runs_dir / name)
            except (FileNotFoundError, RunInfoError):
                continue
            if info.status != STATUS_RUNNING:
                ended[name] = info
                changed = True
        return changed


def resume_task(root: RunsRoot, project_id: str, task_id: str) -> Path:
    """The directory of a task to run again (NotFoundError if there is no such task).

    Nothing changes yet: the loop that resumes it reopens it (``TaskLoop.run(reopen=True)``)
    once it runs, so a resume that cannot start leaves the task as it was, DONE included.
    """
    task_dir = root.existing_task_dir(project_id, task_id)
    check_inside(root.path, task_dir / TASK_FILE)
    if not (task_dir / TASK_FILE).exists():
        raise NotFoundError(f"task {project_id}/{task_id} has no TASK.md: nothing to resume")
    return task_dir


def reopen_task(task_dir: Path) -> None:
    """Make a task runnable again: remove DONE and any stop request."""
    with contextlib.suppress(FileNotFoundError):
        (task_dir / DONE_FILE).unlink()
    clear_stop_request(task_dir)
