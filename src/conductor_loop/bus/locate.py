"""Which bus file a command means, and which project/task/run a message belongs to.

Order (spec §6, compatible with the Go tool): an explicit ``--bus`` path; ``--project``
[``--task``] under the runs root; ``$JRUN_MESSAGE_BUS``; then upward discovery from the
working directory. Message fields come from flags, then from where the bus file sits in
the layout, then from ``JRUN_*``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from conductor_loop.errors import NotFoundError
from conductor_loop.storage.ids import validate_id
from conductor_loop.storage.layout import (
    PROJECT_BUS_FILE,
    TASK_BUS_FILE,
    TASK_FILE,
    RunsRoot,
)


@dataclass(frozen=True, slots=True)
class BusLocation:
    path: Path
    project_id: str = ""
    task_id: str = ""


def infer_context(bus_path: Path) -> BusLocation:
    """Project/task implied by where a bus file sits in the layout."""
    if bus_path.name == TASK_BUS_FILE:
        return BusLocation(bus_path, bus_path.parent.parent.name, bus_path.parent.name)
    if bus_path.name == PROJECT_BUS_FILE:
        return BusLocation(bus_path, bus_path.parent.name)
    return BusLocation(bus_path)


def discover_bus(start: Path) -> BusLocation | None:
    """Walk up from ``start`` to the nearest task or project bus."""
    for directory in (start, *start.parents):
        task_bus = directory / TASK_BUS_FILE
        if task_bus.is_file() or (directory / TASK_FILE).is_file():
            return infer_context(task_bus)
        project_bus = directory / PROJECT_BUS_FILE
        if project_bus.is_file():
            return infer_context(project_bus)
    return None


def resolve_bus(
    root: RunsRoot | None,
    *,
    bus: str | None = None,
    project_id: str | None = None,
    task_id: str | None = None,
    start: Path | None = None,
) -> BusLocation:
    """The bus a command addresses; NotFoundError explains what to pass when none is found."""
    if bus:
        return infer_context(Path(bus).expanduser().absolute())
    if task_id and not project_id:
        project_id = os.environ.get("JRUN_PROJECT_ID") or None
    if project_id:
        if root is None:
            raise NotFoundError("no runs root to place the bus in (pass --root)")
        if task_id:
            return BusLocation(root.task_bus(project_id, task_id), project_id, task_id)
        return BusLocation(root.project_bus(project_id), project_id)
    env_bus = os.environ.get("JRUN_MESSAGE_BUS")
    if env_bus:
        return infer_context(Path(env_bus))
    found = discover_bus((start or Path.cwd()).absolute())
    if found is None:
        raise NotFoundError(
            "no message bus found: pass --project (and --task), set JRUN_MESSAGE_BUS, "
            "or run inside a task directory"
        )
    return found


def message_fields(
    location: BusLocation,
    *,
    project_id: str | None,
    task_id: str | None,
    run_id: str | None,
) -> tuple[str, str, str]:
    """project/task/run for a new message: flags, then the bus location, then JRUN_*."""
    env = os.environ
    project = project_id or location.project_id or env.get("JRUN_PROJECT_ID", "")
    task = task_id or location.task_id or env.get("JRUN_TASK_ID", "")
    run = run_id or env.get("JRUN_ID", "")
    if not project:
        raise NotFoundError("cannot tell which project the message is for: pass --project")
    validate_id(project, "project_id")
    if task:
        validate_id(task, "task_id")
    if run:
        validate_id(run, "run_id")
    return project, task, run
