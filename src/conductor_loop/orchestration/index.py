"""The server's in-memory index of projects, tasks and runs (derived, rebuildable state).

Built once at start-up by one walk of the runs root, then kept current from file-change
notification (``refresh_paths``, fed by the watcher thread) and corrected by a periodic
stat-based ``rescan``; list endpoints read it instead of walking the tree per request.
Mutations hold ``_lock``; readers take it only to copy what they return.

Each run's JSON summary is rendered once and cached until its run-info changes, so a
list response is a join of cached byte strings.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import gc
import itertools
import json
import os
import re
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conductor_loop.errors import InvalidIdError
from conductor_loop.runner.stop_request import STOP_REQUEST_FILE
from conductor_loop.storage.containment import open_nofollow
from conductor_loop.storage.ids import validate_id
from conductor_loop.storage.layout import (
    DONE_FILE,
    LOOP_STATE_FILE,
    OUTPUT_FILE,
    PROJECT_BUS_FILE,
    PROMPT_FILE,
    RUNS_SUBDIR,
    STDERR_FILE,
    STDOUT_FILE,
    TASK_BUS_FILE,
    TASK_FILE,
    TASK_STATE_FILE,
    RunsRoot,
)
from conductor_loop.storage.runinfo import (
    RUN_INFO_FILE,
    STATUS_RUNNING,
    RunInfo,
    run_info_from_text,
)
from conductor_loop.storage.usage import Usage

QUEUED_FILE = "QUEUED"
_TASK_META_FILES = frozenset({DONE_FILE, QUEUED_FILE, TASK_FILE, STOP_REQUEST_FILE})
RUN_SUMMARY_FIELDS = (
    "run_id",
    "project_id",
    "task_id",
    "parent_run_id",
    "previous_run_id",
    "agent",
    "status",
    "start_time",
    "end_time",
    "exit_code",
    "pid",
    "process_ownership",
    "error_summary",
    "backend_model",
    "host",
)

# A run-info file's (mtime_ns, size, inode) as one int: a tuple of three would take
# 160 bytes per run, this ~50; equal exactly when all three are.
Stamp = int

# How long a loop this server launched counts as running before it has a run (it may
# not hold its task lock yet); ends early with its first run.
LAUNCH_GRACE = 30.0

KEY_RUNS = "runs"
KEY_TASKS = "tasks"


def run_key(run_id: str) -> str:
    return f"run:{run_id}"


def bus_key(path: Path | str) -> str:
    return f"bus:{path}"


def _stamp(st: os.stat_result) -> Stamp:
    return (st.st_mtime_ns << 128) | (st.st_size << 64) | st.st_ino


_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+\-]{0,127}\Z")


def _safe_id(name: str) -> bool:
    """``validate_id`` with a fast path for the plain names nearly every id has."""
    if _PLAIN_ID.match(name):
        return True
    try:
        validate_id(name)
    except InvalidIdError:
        return False
    return True


class RunEntry:
    """One indexed run. Kept small (10,000s of them live in the server): its directory is
    its task's ``runs/`` directory (one string per task) and its name (the run id's own
    string), joined on use."""

    __slots__ = ("_json", "_name", "_parent", "info", "stamp")

    def __init__(self, info: RunInfo, parent: str, name: str, stamp: Stamp) -> None:
        self.info = info
        self._parent = parent
        self._name = name
        self.stamp = stamp
        self._json: bytes | None = None

    @property
    def dir(self) -> str:
        return f"{self._parent}/{self._name}"

    @property
    def run_dir(self) -> Path:
        return Path(self._parent, self._name)

    def summary(self) -> dict[str, Any]:
        info = self.info
        data = {name: getattr(info, name) for name in RUN_SUMMARY_FIELDS}
        data["usage"] = info.usage.figures() if info.usage is not None else None
        return data

    def json(self) -> bytes:
        cached = self._json
        if cached is None:
            cached = self._json = json.dumps(
                self.summary(), ensure_ascii=False, separators=(",", ":")
            ).encode("utf-8")
        return cached


@dataclass(slots=True)
class TaskEntry:
    project_id: str
    task_id: str
    task_dir: Path
    # Its runs/ directory as a string: one per task, shared by its runs' entries.
    runs_path: str = field(init=False, repr=False, compare=False)
    run_ids: list[str] = field(default_factory=list)
    done: bool = False
    has_prompt: bool = False
    stop_requested: bool = False
    queued: dict[str, Any] | None = None
    loop_active: bool = False
    launched_at: float = 0.0  # monotonic; set by mark_launched until the loop's first run
    # From the loop's record (.loop.json): why its last loop stopped (None: it did not
    # end stopped), and the budget it ran under.
    stop_reason: str | None = None
    loop_budget: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.runs_path = f"{self.task_dir}/{RUNS_SUBDIR}"


@dataclass(slots=True)
class _TaskMeta:
    done: bool
    has_prompt: bool
    stop_requested: bool
    queued: dict[str, Any] | None
    stop_reason: str | None = None
    loop_budget: dict[str, Any] | None = None


# The index only walks directories it listed as real ones (never symlinks), so its own
# opens need only refuse a symlinked leaf (``open_nofollow``); the API's file reads go
# through the full containment rule.
def _is_real_dir(path: str | Path) -> bool:
    """A directory and not a symlink to one (symlinks are not part of the tree)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _read_task_meta(task_dir: Path) -> _TaskMeta:
    exists = os.path.exists
    queued: dict[str, Any] | None = None
    try:
        with open(task_dir / QUEUED_FILE, encoding="utf-8", opener=open_nofollow) as handle:
            text = handle.read()
    except OSError:  # missing, or a symlink (not a queue marker we wrote)
        pass
    else:
        try:
            loaded = json.loads(text) if text.strip() else {}
        except ValueError:
            loaded = {}
        queued = loaded if isinstance(loaded, dict) else {}
    stop_reason, loop_budget = _read_loop_end(task_dir)
    return _TaskMeta(
        done=exists(task_dir / DONE_FILE),
        has_prompt=exists(task_dir / TASK_FILE),
        stop_requested=exists(task_dir / STOP_REQUEST_FILE),
        queued=queued,
        stop_reason=stop_reason,
        loop_budget=loop_budget,
    )


def _read_loop_end(task_dir: Path) -> tuple[str | None, dict[str, Any] | None]:
    """From the task's loop record: why its loop stopped (None unless it ended
    ``stopped``) and the budget it ran under (None if it recorded none)."""
    try:
        with open(task_dir / LOOP_STATE_FILE, "rb", opener=open_nofollow) as handle:
            state = json.loads(handle.read())
    except (OSError, ValueError):  # none yet (no loop ran it), or not a record we wrote
        return None, None
    if not isinstance(state, dict):
        return None, None
    budget = state.get("budget")
    reason = None
    if state.get("state") == "exited" and state.get("outcome") == "stopped":
        text = state.get("stop_reason")
        reason = text if isinstance(text, str) and text else "stopped"
    return reason, budget if isinstance(budget, dict) else None


def _scan_dirs(path: Path | str, *, follow: bool = False) -> list[str]:
    """Real sub-directories of ``path`` with safe names; none if ``path`` is missing or a
    symlink (only the runs root itself may be reached through one: ``follow``)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError:
        return []
    try:
        with os.scandir(fd) as entries:
            return [
                e.name
                for e in entries
                if e.name[0] != "." and e.is_dir(follow_symlinks=False) and _safe_id(e.name)
            ]
    except OSError:
        return []
    finally:
        os.close(fd)


# One ``key: value`` line of a run-info.yaml as the runner writes it (flat, no nesting).
def _load_run(parent: str, name: str) -> tuple[RunInfo, Stamp] | None:
    """Read the run-info.yaml of run directory ``parent/name`` and its stamp from one
    open file (start-up reads 10,000s). ``parent``, its task's runs/ directory, is kept
    by the record (derived paths): pass the task's one string."""
    path = f"{parent}/{name}/{RUN_INFO_FILE}"
    try:
        with open(path, "rb", opener=open_nofollow) as handle:
            st = os.fstat(handle.fileno())
            text = handle.read().decode("utf-8", errors="replace")
        info = run_info_from_text(text)
    except (OSError, ValueError):  # missing, unreadable, a symlink, or not a run record
        return None
    _share_strings(info)
    return _compact(info, parent, name), _stamp(st)


# Fields whose values repeat across runs (the same project, agent, host, command): one
# string object each, instead of one per run.
_SHARED_FIELDS = (
    "project_id",
    "task_id",
    "agent",
    "process_ownership",
    "status",
    "cwd",
    "commandline",
    "agent_version",
    "backend_model",
    "host",
    "instance_id",
)


# The file paths a run-info records are nearly always its own directory's files: the
# index keeps a marker for those and derives them when read (a third of a run's memory).
_DERIVED = "\0derived"
_FILE_FIELDS = (
    ("prompt_path", PROMPT_FILE),
    ("output_path", OUTPUT_FILE),
    ("stdout_path", STDOUT_FILE),
    ("stderr_path", STDERR_FILE),
)
_RUN_INFO_SLOTS = [(f.name, RunInfo.__dict__[f.name]) for f in dataclasses.fields(RunInfo)]


def _derived_file(name: str, file_name: str) -> Any:
    slot = RunInfo.__dict__[name]

    def get(self: IndexedRunInfo) -> str:
        value: str = slot.__get__(self, RunInfo)
        return f"{self._runs_dir}/{self.run_id}/{file_name}" if value is _DERIVED else value

    def put(self: IndexedRunInfo, value: str) -> None:
        slot.__set__(self, value)

    return property(get, put)


class IndexedRunInfo(RunInfo):
    """A RunInfo as the index keeps it: the same fields and values, but the paths of the
    run's own files are not stored (they are derived from its directory, when its name
    is the run id: the directory of its task's runs, one string per task, and the id)."""

    __slots__ = ("_runs_dir",)
    _runs_dir: str

    prompt_path = _derived_file("prompt_path", PROMPT_FILE)
    output_path = _derived_file("output_path", OUTPUT_FILE)
    stdout_path = _derived_file("stdout_path", STDOUT_FILE)
    stderr_path = _derived_file("stderr_path", STDERR_FILE)


class _NoExtra(dict[str, Any]):
    """The empty ``extra`` that all indexed runs without unknown keys share: read-only."""

    def _refuse(self, *_args: Any, **_kwargs: Any) -> Any:
        raise TypeError("an indexed run's extra keys are read-only")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse


_NO_EXTRA = _NoExtra()


def _compact(info: RunInfo, parent: str, name: str) -> RunInfo:
    """``info`` for the run in directory ``parent/name``, as the index keeps it: one int
    object for a pgid equal to the pid, one shared mapping for no ``extra`` keys."""
    compact = IndexedRunInfo.__new__(IndexedRunInfo)
    compact._runs_dir = parent
    for _field, slot in _RUN_INFO_SLOTS:
        slot.__set__(compact, slot.__get__(info, RunInfo))
    if info.pgid == info.pid:
        compact.pgid = info.pid
    if not info.extra:
        compact.extra = _NO_EXTRA
    if info.run_id == name:
        run_dir = f"{parent}/{name}"
        for field_name, file_name in _FILE_FIELDS:
            if getattr(info, field_name) == f"{run_dir}/{file_name}":
                RunInfo.__dict__[field_name].__set__(compact, _DERIVED)
    return compact


def _share_strings(info: RunInfo) -> None:
    intern = sys.intern
    for name in _SHARED_FIELDS:
        value = getattr(info, name)
        if value:
            setattr(info, name, intern(value))


class Index:
    def __init__(
        self,
        root: RunsRoot,
        *,
        notify: Callable[[set[str]], None] | None = None,
        loop_probe: Callable[[Path], bool] | None = None,
        change_log_size: int = 10_000,
    ) -> None:
        self.root = root
        self._notify = notify or (lambda _keys: None)
        self._loop_probe = loop_probe or (lambda _task_dir: False)
        self._lock = threading.RLock()
        self._runs: dict[str, RunEntry] = {}
        self._order: list[str] = []  # run ids, ascending (run ids sort by start time)
        self._tasks: dict[tuple[str, str], TaskEntry] = {}
        self._projects: dict[str, set[str]] = {}  # project id → task ids
        self.seq = 0
        # The ids of the last changed runs, oldest first: change number ``seq`` is the last,
        # and the numbers before it are consecutive (``_record_change``).
        self._changes: deque[str] = deque(maxlen=change_log_size)
        # Run directories seen without a readable run-info.yaml yet (being created).
        self._pending_runs: set[str] = set()
        # Bumped whenever the set of directories worth watching may have changed.
        self.layout_version = 0
        self._usage: tuple[int, dict[tuple[str, str], Usage]] = (-1, {})
        self.ready = threading.Event()

    # -- reading ---------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        """Whether the start-up walk has finished; until then lists may miss entries (the
        API says so: ``partial``), while lookups by id read what they miss from disk."""
        return self.ready.is_set()

    @property
    def run_count(self) -> int:
        return len(self._runs)

    def run(self, run_id: str, *, find_on_disk: bool = True) -> RunEntry | None:
        """The run's entry. One not indexed (yet) may have been created by another worker
        or replica a moment ago, before the watch reported it: it is looked for on disk
        before the answer is "not found", unless ``find_on_disk`` is False (event streams:
        they ask on the event loop once per change and client, and a bulk delete must not
        become a walk over every task per run and client)."""
        entry = self._runs.get(run_id)
        if entry is None:
            return self._run_from_disk(run_id) if find_on_disk else None
        if not self.ready.is_set():
            # Until the walk is done nothing watches the disk: read the run afresh.
            self._task_from_disk(entry.info.project_id, entry.info.task_id)
            return self._runs.get(run_id)
        return entry

    def task(self, project_id: str, task_id: str) -> TaskEntry | None:
        if not self.ready.is_set():
            # Until the walk is done nothing watches the disk: read the task afresh.
            return self._task_from_disk(project_id, task_id)
        entry = self._tasks.get((project_id, task_id))
        # A miss may be a task created elsewhere a moment ago (see ``run``).
        return entry if entry is not None else self._task_from_disk(project_id, task_id)

    def find_tasks(self, task_id: str) -> list[TaskEntry]:
        if not self.ready.is_set() and _safe_id(task_id):
            for project_id in _scan_dirs(self.root.path, follow=True):
                if (project_id, task_id) not in self._tasks:
                    self._task_from_disk(project_id, task_id)
        with self._lock:
            return [t for (_, tid), t in self._tasks.items() if tid == task_id]

    def project_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._projects)

    def has_project(self, project_id: str) -> bool:
        if project_id in self._projects:
            return True
        if not _safe_id(project_id):
            return False
        if not _is_real_dir(self.root.path / project_id):
            return False
        with self._lock:
            self._add_project(project_id)
        return True

    def _task_from_disk(self, project_id: str, task_id: str) -> TaskEntry | None:
        """Index one task (and its runs) now, ahead of the start-up walk."""
        if not (_safe_id(project_id) and _safe_id(task_id)):
            return None
        task_dir = self.root.path / project_id / task_id
        if not _is_real_dir(task_dir):
            return None
        with self._lock:
            self._refresh_task(project_id, task_id, task_dir, notify=set())
            return self._tasks.get((project_id, task_id))

    def _run_from_disk(self, run_id: str) -> RunEntry | None:
        """Find a run the index has not seen (the start-up walk or the watch has not
        reached it yet): look in every task, a directory check each."""
        if not _safe_id(run_id):
            return None
        root = self.root.path
        for project_id in _scan_dirs(root, follow=True):
            for task_id in _scan_dirs(root / project_id):
                if _is_real_dir(root / project_id / task_id / RUNS_SUBDIR / run_id):
                    self._task_from_disk(project_id, task_id)
                    return self._runs.get(run_id)
        return None

    def tasks(self, project_id: str | None = None) -> list[TaskEntry]:
        """Tasks sorted by project, then task id."""
        with self._lock:
            if project_id is None:
                keys = sorted(self._tasks)
            else:
                keys = [(project_id, t) for t in sorted(self._projects.get(project_id, ()))]
            return [self._tasks[k] for k in keys if k in self._tasks]

    def runs(
        self,
        *,
        project_id: str | None = None,
        task_id: str | None = None,
        status: str | None = None,
        agent: str | None = None,
        parent_run_id: str | None = None,
    ) -> list[RunEntry]:
        """Runs newest first, filtered."""
        with self._lock:
            if project_id is not None and task_id is not None:
                task = self._tasks.get((project_id, task_id))
                ids: Iterable[str] = reversed(task.run_ids) if task else ()
            elif project_id is not None or task_id is not None:
                if project_id is not None:
                    tasks = [
                        self._tasks[(project_id, t)]
                        for t in self._projects.get(project_id, ())
                        if (project_id, t) in self._tasks
                    ]
                else:
                    tasks = [t for (_, tid), t in self._tasks.items() if tid == task_id]
                ids = sorted((r for t in tasks for r in t.run_ids), reverse=True)
            else:
                ids = reversed(self._order)
            runs = self._runs
            selected = [runs[r] for r in ids if r in runs]
        if status is not None:
            selected = [e for e in selected if e.info.status == status]
        if agent is not None:
            selected = [e for e in selected if e.info.agent == agent]
        if parent_run_id is not None:
            selected = [e for e in selected if e.info.parent_run_id == parent_run_id]
        return selected

    def page(
        self,
        *,
        project_id: str | None = None,
        task_id: str | None = None,
        status: str | None = None,
        agent: str | None = None,
        parent_run_id: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[list[RunEntry], int]:
        """One page of ``runs(...)`` and the total; unfiltered pages skip the full scan."""
        if (
            project_id is None
            and task_id is None
            and (status, agent, parent_run_id)
            == (
                None,
                None,
                None,
            )
        ):
            with self._lock:
                total = len(self._order)
                end = total - offset
                start = 0 if limit is None else max(0, end - limit)
                ids = self._order[start:end] if end > 0 else []
                runs = self._runs
                return [runs[r] for r in reversed(ids) if r in runs], total
        entries = self.runs(
            project_id=project_id,
            task_id=task_id,
            status=status,
            agent=agent,
            parent_run_id=parent_run_id,
        )
        return entries[offset : None if limit is None else offset + limit], len(entries)

    def task_runs(self, task: TaskEntry) -> list[RunEntry]:
        """A task's runs, oldest first."""
        runs = self._runs
        with self._lock:
            return [runs[r] for r in task.run_ids if r in runs]

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._lock:
            entries = list(self._runs.values())
        for entry in entries:
            status = entry.info.status
            counts[status] = counts.get(status, 0) + 1
        return counts

    def usage_by_agent(self) -> dict[tuple[str, str], Usage]:
        """Usage summed per (agent, model) over every run; kept until a run changes."""
        with self._lock:
            seq, totals = self._usage
            if seq == self.seq:
                return totals
            seq = self.seq
            entries = list(self._runs.values())
        totals = {}
        for entry in entries:
            info = entry.info
            if info.usage is not None:
                key = (info.agent, info.backend_model)
                known = totals.get(key)
                totals[key] = info.usage if known is None else known + info.usage
        self._usage = (seq, totals)
        return totals

    def running_runs(self) -> list[RunEntry]:
        with self._lock:
            return [e for e in self._runs.values() if e.info.status == STATUS_RUNNING]

    def task_status(self, task: TaskEntry) -> str:
        """queued, running, completed, failed, stopped or idle (no run yet).

        Between two iterations no run is running; whether the loop is still alive is
        then asked of the loop's lock (``loop_probe``), so such a task reads running.
        """
        if task.queued is not None:
            return "queued"
        runs = self.task_runs(task)
        if any(r.info.status == STATUS_RUNNING for r in runs):
            return "running"
        # ``loop_active`` is refreshed by the server's sweep (every 2 s): a loop that ended
        # since then (here or on another replica) shows at once, by its lock. A loop this
        # server just launched may not hold its lock yet: it counts until its first run.
        if task.loop_active and (
            time.monotonic() - task.launched_at < LAUNCH_GRACE or self._loop_probe(task.task_dir)
        ):
            return "running"
        if task.done:
            return "completed"
        if self._loop_probe(task.task_dir):
            return "running"
        if task.stop_reason is not None:
            return "stopped"  # by a request or its budget, between or after runs
        if not runs:
            return "idle"
        roots = [r for r in runs if not r.info.parent_run_id]
        return (roots or runs)[-1].info.status

    def queue(self) -> list[TaskEntry]:
        """Queued tasks in FIFO order (queued_at, then submission sequence, then id)."""
        with self._lock:
            queued = [t for t in self._tasks.values() if t.queued is not None]

        def order(t: TaskEntry) -> tuple[str, int, str, str]:
            q = t.queued or {}
            seq = q.get("seq", 0)
            return (
                str(q.get("queued_at", "")),
                seq if isinstance(seq, int) else 0,
                t.project_id,
                t.task_id,
            )

        queued.sort(key=order)
        return queued

    def watch_dirs(self) -> set[str]:
        """Directories whose changes matter: the tree down to each task's ``runs/``, plus
        the runs that are running or being created.

        Finished runs are not watched (at 10,000 runs that is most of the tree); their
        rare later changes are picked up by the periodic rescan.
        """
        root = self.root.path
        with self._lock:
            dirs = {str(root)}
            dirs.update(str(root / p) for p in self._projects)
            for task in self._tasks.values():
                dirs.add(str(task.task_dir))
                dirs.add(f"{task.task_dir}/{RUNS_SUBDIR}")
            dirs.update(e.dir for e in self._runs.values() if e.info.status == STATUS_RUNNING)
            dirs.update(self._pending_runs)
        return dirs

    def changes_since(self, seq: int) -> tuple[list[str] | None, int]:
        """Run ids changed after ``seq`` (oldest first) and the current sequence number.

        The list is None when ``seq`` is unknown or older than the change log reaches.
        """
        with self._lock:
            current = self.seq
            if seq > current:
                return None, current
            if seq == current:
                return [], current
            first = current - len(self._changes) + 1  # the oldest change still logged
            if not self._changes or first > seq + 1:
                return None, current
            seen: dict[str, None] = {}
            for run_id in itertools.islice(self._changes, seq + 1 - first, None):
                seen.pop(run_id, None)
                seen[run_id] = None
            return list(seen), current

    # -- building and updating -------------------------------------------------------

    def build(self, stop: threading.Event | None = None) -> bool:
        """Full walk of the runs root (start-up; the server runs it in the background).

        The lock is taken per task, so requests are served meanwhile from what is indexed
        so far (``complete`` is False until the walk ends). The cyclic GC is paused: the
        walk allocates hundreds of thousands of small objects, and each full collection
        it would trigger also rescans everything the server imported. Returns False if
        ``stop`` cut it short.
        """
        root = self.root.path
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for project_id in _scan_dirs(root, follow=True):
                with self._lock:
                    self._add_project(project_id)
                project_dir = root / project_id
                for task_id in _scan_dirs(project_dir):
                    if stop is not None and stop.is_set():
                        return False  # shutting down
                    task_dir = project_dir / task_id
                    # The run infos are read and parsed (most of the work) without the
                    # lock, so that requests are not held up meanwhile.
                    preloaded = None
                    if (project_id, task_id) not in self._tasks:
                        runs_path = f"{task_dir}/{RUNS_SUBDIR}"
                        preloaded = {r: _load_run(runs_path, r) for r in _scan_dirs(runs_path)}
                    with self._lock:
                        self._refresh_task(
                            project_id, task_id, task_dir, notify=set(), preloaded=preloaded
                        )
        finally:
            if gc_was_enabled:
                gc.enable()
        self.ready.set()
        self._notify({KEY_RUNS, KEY_TASKS})
        return True

    def _add_project(self, project_id: str) -> None:
        if project_id not in self._projects:
            self._projects[project_id] = set()
            self.layout_version += 1

    def _record_change(self, run_id: str, keys: set[str]) -> None:
        self.seq += 1
        self._changes.append(run_id)
        keys.add(run_key(run_id))
        keys.add(KEY_RUNS)

    def _put_run(
        self,
        task: TaskEntry,
        run_id: str,
        keys: set[str],
        preloaded: dict[str, tuple[RunInfo, Stamp] | None] | None = None,
    ) -> None:
        """Read the info of the task's run ``run_id`` (if changed) and store it. Caller
        holds the lock.

        ``preloaded``: run infos the start-up walk read without the lock (for new runs).
        """
        run_dir = f"{task.runs_path}/{run_id}"
        existing = self._runs.get(run_id)
        if existing is not None:
            try:
                st = os.stat(f"{run_dir}/{RUN_INFO_FILE}")
            except (FileNotFoundError, NotADirectoryError):
                return
            if _stamp(st) == existing.stamp:
                return
        if existing is None and preloaded is not None and run_id in preloaded:
            loaded = preloaded[run_id]
        else:
            loaded = _load_run(task.runs_path, run_id)
        if loaded is None:
            if existing is None and run_dir not in self._pending_runs:
                self._pending_runs.add(run_dir)
                self.layout_version += 1
            return
        info, stamp = loaded
        if existing is not None and existing.info.to_dict() == info.to_dict():
            existing.stamp = stamp
            return
        if info.run_id == run_id:
            run_id = info.run_id  # one string for the id in the record and in the index
        self._share_ids(info)
        self._runs[run_id] = RunEntry(info, task.runs_path, run_id, stamp)
        if existing is None:
            bisect.insort(self._order, run_id)
            bisect.insort(task.run_ids, run_id)
            self._pending_runs.discard(run_dir)
            task.launched_at = 0.0
        if existing is None or existing.info.status != info.status:
            self.layout_version += 1
        self._record_change(run_id, keys)

    def _share_ids(self, info: RunInfo) -> None:
        """The previous and parent run ids as the string their runs' entries hold (each
        run names its predecessor: one id string less per run). Caller holds the lock."""
        for name in ("previous_run_id", "parent_run_id"):
            other_id = getattr(info, name)
            if other_id:
                other = self._runs.get(other_id)
                if other is not None and other.info.run_id == other_id:
                    setattr(info, name, other.info.run_id)

    def _drop_run(self, task: TaskEntry | None, run_id: str, keys: set[str]) -> None:
        entry = self._runs.pop(run_id, None)
        if entry is None:
            return
        self.layout_version += 1
        pos = bisect.bisect_left(self._order, run_id)
        if pos < len(self._order) and self._order[pos] == run_id:
            del self._order[pos]
        if task is not None:
            with contextlib.suppress(ValueError):
                task.run_ids.remove(run_id)
        self._record_change(run_id, keys)

    def _refresh_task(
        self,
        project_id: str,
        task_id: str,
        task_dir: Path,
        *,
        notify: set[str],
        preloaded: dict[str, tuple[RunInfo, Stamp] | None] | None = None,
    ) -> None:
        if not _is_real_dir(task_dir) or not _is_real_dir(task_dir.parent):
            self._drop_task(project_id, task_id, notify)
            return
        task = self._tasks.get((project_id, task_id))
        if task is None:
            task = TaskEntry(project_id, task_id, task_dir)
            self._tasks[(project_id, task_id)] = task
            self._add_project(project_id)
            self._projects[project_id].add(task_id)
            self.layout_version += 1
            notify.add(KEY_TASKS)
        self._apply_meta(task, _read_task_meta(task_dir), notify)
        on_disk = _scan_dirs(task.runs_path)
        for run_id in set(task.run_ids).difference(on_disk):
            self._drop_run(task, run_id, notify)
        prefix = f"{task.runs_path}/"
        gone = {p for p in self._pending_runs if p.startswith(prefix)} - {
            prefix + r for r in on_disk
        }
        if gone:
            self._pending_runs -= gone
            self.layout_version += 1
        for run_id in sorted(on_disk):  # oldest first: a run's predecessor is there before it
            self._put_run(task, run_id, notify, preloaded)

    def _apply_meta(self, task: TaskEntry, meta: _TaskMeta, notify: set[str]) -> None:
        changed = (
            task.done != meta.done
            or task.has_prompt != meta.has_prompt
            or task.stop_requested != meta.stop_requested
            or task.queued != meta.queued
            or task.stop_reason != meta.stop_reason
            or task.loop_budget != meta.loop_budget
        )
        task.done = meta.done
        task.has_prompt = meta.has_prompt
        task.stop_requested = meta.stop_requested
        task.queued = meta.queued
        task.stop_reason = meta.stop_reason
        task.loop_budget = meta.loop_budget
        if changed:
            notify.add(KEY_TASKS)

    def _drop_task(self, project_id: str, task_id: str, notify: set[str]) -> None:
        task = self._tasks.pop((project_id, task_id), None)
        if task is None:
            return
        self.layout_version += 1
        for run_id in list(task.run_ids):
            self._drop_run(task, run_id, notify)
        self._projects.get(project_id, set()).discard(task_id)
        notify.add(KEY_TASKS)

    def _drop_project(self, project_id: str, notify: set[str]) -> None:
        for task_id in list(self._projects.get(project_id, ())):
            self._drop_task(project_id, task_id, notify)
        if self._projects.pop(project_id, None) is not None:
            self.layout_version += 1

    def refresh_paths(self, paths: Iterable[str]) -> set[str]:
        """Bring the index up to date with changed paths; returns the keys to notify."""
        root = str(self.root.path)
        prefix = root.rstrip("/") + "/"
        runs_to_refresh: set[tuple[str, str, str]] = set()
        tasks_to_refresh: set[tuple[str, str]] = set()
        task_meta: set[tuple[str, str]] = set()
        projects: set[str] = set()
        keys: set[str] = set()
        runs_dir_changed = False
        for path in paths:
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            depth = len(parts)
            if depth == 3 and parts[2] == LOOP_STATE_FILE:
                task_meta.add((parts[0], parts[1]))  # how the task's loop ended
                continue
            if any(not p or p[0] == "." for p in parts):
                continue
            if depth == 1:
                projects.add(parts[0])
            elif depth == 2:
                if parts[1] == PROJECT_BUS_FILE:
                    keys.add(bus_key(path))
                else:
                    tasks_to_refresh.add((parts[0], parts[1]))
            elif depth == 3:
                name = parts[2]
                if name == TASK_BUS_FILE:
                    keys.add(bus_key(path))
                elif name in _TASK_META_FILES:
                    task_meta.add((parts[0], parts[1]))
                elif name == RUNS_SUBDIR:
                    tasks_to_refresh.add((parts[0], parts[1]))
                    runs_dir_changed = True
                elif name == TASK_STATE_FILE:
                    keys.add(KEY_TASKS)
            elif parts[2] == RUNS_SUBDIR:
                if depth == 4:
                    runs_to_refresh.add((parts[0], parts[1], parts[3]))
                elif depth == 5:
                    if parts[4] == RUN_INFO_FILE:
                        runs_to_refresh.add((parts[0], parts[1], parts[3]))
                    else:
                        keys.add(run_key(parts[3]))
        root_path = self.root.path
        with self._lock:
            if runs_dir_changed:
                # A task's runs/ appeared after the task (another process creates the two
                # a moment apart): the watcher must add it, which it does on a new layout.
                self.layout_version += 1
            for project_id in projects:
                if not _safe_id(project_id):
                    continue
                project_dir = root_path / project_id
                if _is_real_dir(project_dir):
                    if project_id not in self._projects:
                        self._add_project(project_id)
                        keys.add(KEY_TASKS)
                    for task_id in _scan_dirs(project_dir):
                        if (project_id, task_id) not in self._tasks:
                            tasks_to_refresh.add((project_id, task_id))
                else:
                    self._drop_project(project_id, keys)
            for project_id, task_id in tasks_to_refresh:
                if _safe_id(project_id) and _safe_id(task_id):
                    self._refresh_task(
                        project_id, task_id, root_path / project_id / task_id, notify=keys
                    )
            for project_id, task_id in task_meta - tasks_to_refresh:
                task = self._tasks.get((project_id, task_id))
                if task is None:
                    if _safe_id(project_id) and _safe_id(task_id):
                        self._refresh_task(
                            project_id, task_id, root_path / project_id / task_id, notify=keys
                        )
                else:
                    self._apply_meta(task, _read_task_meta(task.task_dir), keys)
            for project_id, task_id, run_id in runs_to_refresh:
                if (project_id, task_id) in tasks_to_refresh or not _safe_id(run_id):
                    continue
                task = self._tasks.get((project_id, task_id))
                if task is None:
                    if _safe_id(project_id) and _safe_id(task_id):
                        self._refresh_task(
                            project_id, task_id, root_path / project_id / task_id, notify=keys
                        )
                    continue
                if _is_real_dir(f"{task.runs_path}/{run_id}"):
                    self._put_run(task, run_id, keys)
                else:
                    self._drop_run(task, run_id, keys)
        return keys

    def rescan(self) -> set[str]:
        """Consistency pass: compare the whole tree with the index (stat-based, cheap)."""
        root = self.root.path
        keys: set[str] = set()
        on_disk_projects = _scan_dirs(root, follow=True)
        with self._lock:
            for project_id in set(self._projects).difference(on_disk_projects):
                self._drop_project(project_id, keys)
        for project_id in on_disk_projects:
            project_dir = root / project_id
            task_ids = _scan_dirs(project_dir)
            with self._lock:
                if project_id not in self._projects:
                    self._add_project(project_id)
                    keys.add(KEY_TASKS)
                for task_id in self._projects[project_id].difference(task_ids):
                    self._drop_task(project_id, task_id, keys)
            for task_id in task_ids:
                with self._lock:
                    self._refresh_task(project_id, task_id, project_dir / task_id, notify=keys)
                # Let request handling in between tasks: a rescan of 10,000 runs must not
                # hold the GIL for long stretches (a zero sleep may not hand it over).
                time.sleep(0.001)
        return keys

    def replace_info(self, run_id: str, info: RunInfo) -> None:
        """Store info we just reconciled (its file changed; the watcher will confirm)."""
        keys: set[str] = set()
        with self._lock:
            entry = self._runs.get(run_id)
            if entry is None or entry.info.to_dict() == info.to_dict():
                return
            try:
                stamp = _stamp(os.stat(f"{entry.dir}/{RUN_INFO_FILE}"))
            except FileNotFoundError:
                stamp = entry.stamp
            self._runs[run_id] = RunEntry(info, entry._parent, entry._name, stamp)
            self._record_change(run_id, keys)
        self._notify(keys)

    def set_loop_active(self, flags: dict[tuple[str, str], bool]) -> None:
        keys: set[str] = set()
        with self._lock:
            for key, active in flags.items():
                task = self._tasks.get(key)
                if task is not None and task.loop_active != active:
                    task.loop_active = active
                    keys.add(KEY_TASKS)
        if keys:
            self._notify(keys)

    def mark_launched(self, project_id: str, task_id: str) -> None:
        with self._lock:
            task = self._tasks.get((project_id, task_id))
            if task is None:
                task = TaskEntry(project_id, task_id, self.root.task_dir(project_id, task_id))
                self._tasks[(project_id, task_id)] = task
                self._add_project(project_id)
                self._projects[project_id].add(task_id)
                self.layout_version += 1
            task.loop_active = True
            task.launched_at = time.monotonic()
        self._notify({KEY_TASKS})

    def wake_running(self) -> None:
        """Wake the streams of every running run (after a gap in change notification)."""
        keys = {run_key(e.info.run_id) for e in self.running_runs()}
        if keys:
            self._notify(keys)

    def apply(self, paths: Iterable[str]) -> None:
        keys = self.refresh_paths(paths)
        if keys:
            self._notify(keys)

    def apply_rescan(self) -> None:
        keys = self.rescan()
        if keys:
            self._notify(keys)
