"""Tasks as the API shows them: lists, details and files, read from the index.

What happens to tasks (create, queue, resume, stop, delete, adoption) is the
``orchestration`` package's job; the routes call it and shape what it returns.
"""

from __future__ import annotations

from typing import Any

from conductor_loop.config.models import Config
from conductor_loop.errors import InvalidRequestError, NotFoundError
from conductor_loop.orchestration.index import Index, TaskEntry
from conductor_loop.orchestration.orchestrator import Orchestrator, task_budget
from conductor_loop.orchestration.queue import marker_dependencies
from conductor_loop.orchestration.rules import pending_dependencies
from conductor_loop.runner.budget import BudgetState, spent
from conductor_loop.storage.containment import read_text_inside
from conductor_loop.storage.ids import validate_id
from conductor_loop.storage.layout import TASK_FILE, TASK_STATE_FILE, RunsRoot
from conductor_loop.storage.usage import total_figures

TASK_FILES = (TASK_FILE, TASK_STATE_FILE)


class TaskViews:
    """Task lists, details and files as the routes answer them."""

    def __init__(
        self, root: RunsRoot, config: Config, index: Index, orchestrator: Orchestrator
    ) -> None:
        self.root = root
        self.config = config
        self.index = index
        self.orchestrator = orchestrator

    def summary(
        self, task: TaskEntry, positions: dict[tuple[str, str], int] | None = None
    ) -> dict[str, Any]:
        runs = self.index.task_runs(task)
        last = runs[-1] if runs else None
        depends_on = list(marker_dependencies(task.queued))
        waiting_for = pending_dependencies(self.root, task.project_id, depends_on)
        position = None
        if task.queued is not None:
            positions = positions if positions is not None else self.orchestrator.queue_positions()
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
        positions = self.orchestrator.queue_positions()
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
        budget = task_budget(self.config, task)
        data["budget"] = BudgetState(budget, spent(e.info for e in runs)).figures()
        data["runs"] = [e.summary() for e in runs]
        return data

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
