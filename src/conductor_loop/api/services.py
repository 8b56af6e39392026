"""What the routes call: runs, messages and projects over the index and the disk.

Routes stay thin (parse, call one of these, shape the response); the same storage, bus
and runner functions back the ``run-agent`` CLI, so the CLI and the API agree.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conductor_loop.api.hub import Hub
from conductor_loop.api.metrics import Metrics
from conductor_loop.api.models import MessagePost
from conductor_loop.api.sse import StreamContext
from conductor_loop.api.tasks import TaskViews
from conductor_loop.bus.group import GroupCommitters
from conductor_loop.bus.message import Message, Parent
from conductor_loop.bus.reader import PAGE, read_all, read_before, read_since, read_tail
from conductor_loop.config.models import Config
from conductor_loop.errors import ConflictError, InvalidRequestError, NotFoundError
from conductor_loop.orchestration.index import Index, RunEntry
from conductor_loop.orchestration.orchestrator import Orchestrator
from conductor_loop.storage.containment import check_inside, opener, read_text_inside
from conductor_loop.storage.ids import validate_id
from conductor_loop.storage.layout import (
    OUTPUT_FILE,
    PROMPT_FILE,
    STDERR_FILE,
    STDOUT_FILE,
    RunsRoot,
)
from conductor_loop.storage.runinfo import RUN_INFO_FILE, STATUS_RUNNING
from conductor_loop.storage.usage import total_figures

RUN_FILES = {
    "output.md": OUTPUT_FILE,
    "output": OUTPUT_FILE,
    "stdout": STDOUT_FILE,
    "stderr": STDERR_FILE,
    "prompt": PROMPT_FILE,
    "prompt.md": PROMPT_FILE,
    STDOUT_FILE: STDOUT_FILE,
    STDERR_FILE: STDERR_FILE,
}
DEFAULT_FILE_LIMIT = 1024 * 1024


def page_json(
    key: str,
    chunks: list[bytes],
    total: int,
    offset: int,
    limit: int | None,
    partial: bool = False,
) -> bytes:
    """A list response assembled from pre-rendered JSON objects."""
    limit_text = b"null" if limit is None else str(limit).encode()
    return b"".join(
        (
            b'{"',
            key.encode(),
            b'":[',
            b",".join(chunks),
            b'],"total":',
            str(total).encode(),
            b',"offset":',
            str(offset).encode(),
            b',"limit":',
            limit_text,
            b',"partial":true}' if partial else b',"partial":false}',
        )
    )


class RunService:
    def __init__(self, root: RunsRoot, config: Config, index: Index, orchestrator: Orchestrator):
        self.root = root
        self.config = config
        self.index = index
        self.orchestrator = orchestrator

    def list_json(
        self,
        *,
        project_id: str | None,
        task_id: str | None,
        status: str | None,
        agent: str | None,
        parent_run_id: str | None,
        offset: int,
        limit: int | None,
        partial: bool = False,
    ) -> bytes:
        for value, kind in ((project_id, "project_id"), (task_id, "task_id")):
            if value is not None:
                validate_id(value, kind)
        page, total = self.index.page(
            project_id=project_id,
            task_id=task_id,
            status=status,
            agent=agent,
            parent_run_id=parent_run_id,
            offset=offset,
            limit=limit,
        )
        return page_json("runs", [e.json() for e in page], total, offset, limit, partial)

    def get(
        self, run_id: str, project_id: str | None = None, task_id: str | None = None
    ) -> RunEntry:
        validate_id(run_id, "run_id")
        entry = self.index.run(run_id)
        if entry is None or (
            project_id is not None
            and entry.run_dir != self.root.run_dir(project_id, task_id or "", run_id)
        ):
            where = f" in {project_id}/{task_id}" if project_id is not None else ""
            raise NotFoundError(f"run {run_id} not found{where}")
        return self.orchestrator.reconcile(entry)

    def detail(self, entry: RunEntry) -> dict[str, Any]:
        info = entry.info
        data = entry.summary()
        data.update(
            run_dir=str(entry.run_dir),
            cwd=info.cwd,
            commandline=info.commandline,
            agent_version=info.agent_version,
            instance_id=info.instance_id,
            heartbeat_time=info.heartbeat_time,
            ray_node_id=info.ray_node_id,
            ray_worker_id=info.ray_worker_id,
            ray_job_id=info.ray_job_id,
            ray_node_name=info.ray_node_name,
            files=self._file_sizes(entry.run_dir),
        )
        return data

    def _file_sizes(self, run_dir: Path) -> dict[str, int]:
        """Sizes of the run's regular files (a symlink is not followed, nor listed)."""
        sizes = {}
        for name in (RUN_INFO_FILE, PROMPT_FILE, OUTPUT_FILE, STDOUT_FILE, STDERR_FILE):
            try:
                st = os.lstat(run_dir / name)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                sizes[name] = st.st_size
        return sizes

    def raw_info(self, entry: RunEntry) -> str:
        try:
            return read_text_inside(self.root.path, entry.run_dir / RUN_INFO_FILE)
        except FileNotFoundError:
            raise NotFoundError(f"run {entry.info.run_id} has no run-info.yaml") from None

    def read_file(
        self, entry: RunEntry, name: str, *, offset: int | None, limit: int
    ) -> dict[str, Any]:
        """A run file (or a byte range of it); by default its last ``limit`` bytes."""
        file_name = RUN_FILES.get(name)
        if file_name is None:
            raise InvalidRequestError("name must be one of output.md, stdout, stderr, prompt")
        path = entry.run_dir / file_name
        try:
            with open(path, "rb", opener=opener(self.root.path)) as handle:
                size = os.fstat(handle.fileno()).st_size
                start = max(0, size - limit) if offset is None else min(offset, size)
                handle.seek(start)
                data = handle.read(limit)
        except FileNotFoundError:
            raise NotFoundError(f"run {entry.info.run_id} has no {file_name} yet") from None
        return {
            "run_id": entry.info.run_id,
            "name": file_name,
            "size": size,
            "offset": start,
            "truncated": start > 0 or start + len(data) < size,
            "content": data.decode("utf-8", "replace"),
        }

    def stop(self, entry: RunEntry) -> dict[str, Any]:
        from conductor_loop.runner.control import stop_run

        if entry.info.status != STATUS_RUNNING:
            raise ConflictError(f"run {entry.info.run_id} is not running ({entry.info.status})")
        stop_run(entry.run_dir, self.config, wait=False, reason="stopped through the API")
        return {"run_id": entry.info.run_id, "status": entry.info.status, "stop_requested": True}

    def delete(self, entry: RunEntry) -> dict[str, Any]:
        from conductor_loop.runner.control import delete_run

        delete_run(entry.run_dir)
        self.index.apply([str(entry.run_dir)])
        return {"run_id": entry.info.run_id, "status": "deleted", "stop_requested": False}


_KNOWN_BUS_FILES = 4096


class MessageService:
    def __init__(self, root: RunsRoot, config: Config, index: Index, metrics: Metrics):
        self.root = root
        self.config = config
        self.index = index
        self.metrics = metrics
        # Posts that arrive together share one locked write (and fsync): bus.group.
        self.committers = GroupCommitters(
            fsync=config.storage.bus_fsync,
            rotate_bytes=config.storage.bus_rotate_bytes,
            root=root.path,
        )
        self._root_str = str(root.path)
        # (project, task) -> the bus file as a Path and a string, and the scope's name.
        self._bus_files: dict[tuple[str, str], tuple[Path, str, str]] = {}

    def bus_path(self, project_id: str, task_id: str | None, *, must_exist: bool = False) -> Path:
        """The bus file of a project or task, checked now: no symlink on the way to it
        (and with ``must_exist``, its directory is there). Only what the ids give (their
        validation, the path) is remembered; the disk is looked at every time."""
        key = (project_id, task_id or "")
        known = self._bus_files.get(key)
        if known is None:
            if task_id:
                path = self.root.task_bus(project_id, task_id)
                scope = f"task {project_id}/{task_id}"
            else:
                path = self.root.project_bus(project_id)
                scope = f"project {project_id}"
            if len(self._bus_files) >= _KNOWN_BUS_FILES:
                self._bus_files.clear()  # ids come from requests: keep it bounded
            known = self._bus_files[key] = (path, str(path), scope)
        path, path_str, scope = known
        if not check_inside(self._root_str, path_str) and must_exist:
            raise NotFoundError(f"{scope} does not exist")
        return path

    def read(
        self,
        project_id: str,
        task_id: str | None,
        *,
        after: str | None,
        tail: int | None,
        before: str | None = None,
    ) -> list[dict[str, Any]]:
        path = self.bus_path(project_id, task_id)
        if after and before:
            raise InvalidRequestError("give after or before, not both")
        if (after or before) and not path.exists():
            raise NotFoundError(
                f"message id {after or before!r} is not in {path.name} (no messages)"
            )
        root = self.root.path
        if before:
            messages = read_before(path, before, tail or PAGE, root=root)
        elif after:
            messages = read_since(path, after, root=root)
            if tail:
                messages = messages[-tail:]
        elif tail:
            messages = read_tail(path, tail, root=root)
        else:
            messages = read_all(path, root=root)
        return [m.to_dict() for m in messages]

    async def commit(self, path: Path, msg: Message) -> dict[str, Any]:
        """Awaits the group commit (bus.group): returns once the message is written."""
        await self.committers.append_async(path, msg)
        self.metrics.bus_appends.inc()
        return msg.to_dict()

    def prepare(
        self, request: MessagePost, project_id: str, task_id: str | None
    ) -> tuple[Path, Message]:
        """Check a post (its run id, that its bus's directory exists): the bus file and
        the message to ``commit``."""
        if request.run_id:
            validate_id(request.run_id, "run_id")
        path = self.bus_path(project_id, task_id, must_exist=True)
        msg = Message(
            type=request.type,
            project_id=project_id,
            task_id=task_id or "",
            run_id=request.run_id or "",
            body=request.body,
            meta=dict(request.meta),
            parents=[Parent(p) for p in request.parents],
        )
        return path, msg


class ProjectService:
    def __init__(self, root: RunsRoot, index: Index):
        self.root = root
        self.index = index

    def _require(self, project_id: str) -> None:
        validate_id(project_id, "project_id")
        if not self.index.has_project(project_id):
            raise NotFoundError(f"project {project_id} not found")

    def summary(self, project_id: str) -> dict[str, Any]:
        runs = self.index.runs(project_id=project_id)
        last = max((e.info.end_time or e.info.start_time for e in runs), default=None)
        return {
            "project_id": project_id,
            "task_count": len(self.index.tasks(project_id)),
            "run_count": len(runs),
            "running_runs": sum(1 for e in runs if e.info.status == STATUS_RUNNING),
            "last_activity": last or None,
        }

    def list_projects(self) -> list[dict[str, Any]]:
        return [self.summary(p) for p in self.index.project_ids()]

    def get(self, project_id: str) -> dict[str, Any]:
        self._require(project_id)
        return self.summary(project_id)

    def stats(self, project_id: str) -> dict[str, Any]:
        self._require(project_id)
        tasks_by_status: dict[str, int] = {}
        tasks = self.index.tasks(project_id)
        for task in tasks:
            status = self.index.task_status(task)
            tasks_by_status[status] = tasks_by_status.get(status, 0) + 1
        runs_by_status: dict[str, int] = {}
        runs = self.index.runs(project_id=project_id)
        for entry in runs:
            runs_by_status[entry.info.status] = runs_by_status.get(entry.info.status, 0) + 1
        bus = self.root.project_bus(project_id)
        try:
            bus_bytes = os.lstat(bus).st_size
        except FileNotFoundError:
            bus_bytes = 0
        return {
            "project_id": project_id,
            "task_count": len(tasks),
            "tasks_by_status": tasks_by_status,
            "run_count": len(runs),
            "runs_by_status": runs_by_status,
            "bus_bytes": bus_bytes,
            "message_bus": str(bus),
            "usage": total_figures(e.info.usage for e in runs),
        }


@dataclass(slots=True)
class Services:
    root: RunsRoot
    config: Config
    index: Index
    hub: Hub
    metrics: Metrics
    orchestrator: Orchestrator
    tasks: TaskViews
    runs: RunService
    messages: MessageService
    projects: ProjectService
    streams: StreamContext
