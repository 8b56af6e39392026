"""The rules a task passes before a loop runs it, one copy for ``run-agent task`` and the API.

Both entry points call these: ids are checked (and generated) the same way, ``depends_on``
is cleaned and checked the same way, and an existing task is never silently given a new
prompt — the API answers 409, the CLI asks for ``--resume`` or ``--force``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from conductor_loop.config.models import Config
from conductor_loop.errors import ConflictError, InvalidRequestError, NotFoundError
from conductor_loop.orchestration.errors import DependencyCycleError
from conductor_loop.storage.ids import new_task_id, validate_id
from conductor_loop.storage.layout import DONE_FILE, TASK_FILE, RunsRoot

# What each entry point tells the user to do about an existing task.
HINT_API = "resume it, or delete it first"
HINT_CLI = "--resume continues it as it is, --force replaces its prompt and runs it again"


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task's identity and dependencies, checked."""

    project_id: str
    task_id: str
    depends_on: tuple[str, ...] = ()


def new_task(
    project_id: str,
    task_id: str | None,
    prompt: str | None,
    depends_on: Iterable[str] = (),
) -> NewTask:
    """Check the ids, generate a task id from the prompt's first line if none is given,
    and clean ``depends_on`` (each a valid id, once, never the task itself). ``prompt``
    None: the task's TASK.md is (or will be) there already."""
    validate_id(project_id, "project_id")
    if prompt is not None and not prompt.strip():
        raise InvalidRequestError("the task prompt is empty")
    if task_id is None:
        lines = (prompt or "").strip().splitlines()
        task_id = new_task_id(lines[0] if lines else "")
    validate_id(task_id, "task_id")
    deps = tuple(dict.fromkeys(validate_id(d, "depends_on") for d in depends_on))
    if task_id in deps:
        raise DependencyCycleError(f"task {task_id} cannot depend on itself")
    return NewTask(project_id, task_id, deps)


def check_agent(config: Config, agent: str | None) -> str:
    """The configured name of ``agent`` (None: the default one); a ConfigError now, before
    anything is written, if it is unknown or its token file cannot be read."""
    name, agent_config = config.agent(agent)
    agent_config.resolve_token(name)
    return name


def check_admission(
    root: RunsRoot,
    project_id: str,
    task_id: str,
    *,
    prompt: bool,
    reopen: bool = False,
    replace: bool = False,
    hint: str = HINT_API,
) -> None:
    """Refuse to run an existing task (one with TASK.md, runs or DONE) unless told how:
    ``reopen`` continues it as it is, ``replace`` gives it a new prompt. ``prompt``: a
    prompt comes with the request; without one, a prepared task (only its TASK.md, as
    the API or a user wrote it) may start. A loop calls this while it holds the task's
    lock, so that two loops cannot both pass it."""
    task_dir = root.task_dir(project_id, task_id)
    has_task_file = (task_dir / TASK_FILE).exists()
    runs = len(root.run_ids(project_id, task_id))
    done = (task_dir / DONE_FILE).exists()
    name = f"task {project_id}/{task_id}"
    if reopen and not replace and not (has_task_file or runs):
        raise NotFoundError(f"{name} has nothing to resume (no TASK.md, no runs)")
    if reopen or replace:
        return
    if not (runs or done or (prompt and has_task_file)):
        return  # new, or prepared
    state = [f"{runs} run(s)"] if runs else ["a TASK.md"] if has_task_file else []
    raise ConflictError(
        f"{name} already exists ({', '.join([*state, 'DONE'] if done else state)}): {hint}"
    )


def pending_dependencies(root: RunsRoot, project_id: str, depends_on: Iterable[str]) -> list[str]:
    """The tasks of ``depends_on`` that are not DONE yet (unknown ones included: a task
    may depend on one that is created later)."""
    project_dir = root.project_dir(project_id)
    return [d for d in depends_on if not os.path.exists(project_dir / d / DONE_FILE)]


def check_cycle(
    task_id: str, depends_on: Sequence[str], waiting: Mapping[str, Sequence[str]]
) -> None:
    """Refuse ``depends_on`` that leads back to ``task_id`` through tasks that wait
    (``waiting``: task id -> the tasks it waits for)."""
    if task_id in depends_on:
        raise DependencyCycleError(f"task {task_id} cannot depend on itself")
    if not depends_on:
        return
    edges = dict(waiting)
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
