"""Which bus file a command means, and which project/task/run a message belongs to.

Order (spec §6): an explicit ``--bus`` path; ``--project`` [``--task``] under the runs
root; ``$JRUN_MESSAGE_BUS``; then upward discovery from the working directory. Flags win
over the variable: what a user types beats what the run's environment implies. The Go
tool orders these two the other way round (its variable wins). Message fields come from
flags, then from where the bus file sits in the layout, then from ``JRUN_*``. A bus file
named as in the layout is read and written under the containment rule of the runs root
its place implies (``root``).
"""

from __future__ import annotations

import os
from pathlib import Path

from conductor_loop.errors import NotFoundError
from conductor_loop.storage.ids import validate_id
from conductor_loop.storage.layout import PROJECT_BUS_FILE, TASK_BUS_FILE, TASK_FILE

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `bus post` start-up
if TYPE_CHECKING:
    from conductor_loop.storage.layout import RunsRoot


class BusLocation:
    """A bus file and the project/task it belongs to. A plain class, not a dataclass, so
    that ``run-agent bus post`` does not import ``dataclasses``."""

    __slots__ = ("path", "project_id", "root", "task_id")
    path: Path
    project_id: str
    task_id: str
    root: Path | None

    def __init__(
        self, path: Path, project_id: str = "", task_id: str = "", root: Path | None = None
    ) -> None:
        set_field = object.__setattr__  # frozen
        set_field(self, "path", path)
        set_field(self, "project_id", project_id)
        set_field(self, "task_id", task_id)
        # The runs root it lives in (None: a file outside the layout); derived, not compared.
        set_field(self, "root", root)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __reduce__(self) -> tuple[type[BusLocation], tuple[Path, str, str, Path | None]]:
        return BusLocation, (self.path, self.project_id, self.task_id, self.root)  # pickle, copy

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusLocation):
            return NotImplemented
        return (self.path, self.project_id, self.task_id) == (
            other.path,
            other.project_id,
            other.task_id,
        )

    def __hash__(self) -> int:
        return hash((self.path, self.project_id, self.task_id))

    def __repr__(self) -> str:
        return (
            f"BusLocation(path={self.path!r}, project_id={self.project_id!r}, "
            f"task_id={self.task_id!r}, root={self.root!r})"
        )


def infer_context(bus_path: Path) -> BusLocation:
    """Project/task (and runs root, for an absolute path) implied by where a bus file sits
    in the layout."""
    known = bus_path.is_absolute()
    if bus_path.name == TASK_BUS_FILE:
        task_dir = bus_path.parent
        root = task_dir.parent.parent if known else None
        return BusLocation(bus_path, task_dir.parent.name, task_dir.name, root)
    if bus_path.name == PROJECT_BUS_FILE:
        return BusLocation(
            bus_path, bus_path.parent.name, root=bus_path.parent.parent if known else None
        )
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
    """The bus a command addresses; NotFoundError explains what to pass when none is found.

    ``None`` means "not given"; an explicitly given id, even an empty one, is validated.
    """
    if bus:
        return infer_context(Path(bus).expanduser().absolute())
    if task_id is not None and project_id is None:
        project_id = os.environ.get("JRUN_PROJECT_ID") or None
        if project_id is None:
            validate_id(task_id, "task_id")
    if project_id is not None:
        if root is None:
            raise NotFoundError("no runs root to place the bus in (pass --root)")
        if task_id is not None:
            return BusLocation(root.task_bus(project_id, task_id), project_id, task_id, root.path)
        return BusLocation(root.project_bus(project_id), project_id, root=root.path)
    env_bus = os.environ.get("JRUN_MESSAGE_BUS")
    found = (
        infer_context(Path(env_bus)) if env_bus else discover_bus((start or Path.cwd()).absolute())
    )
    if found is None:
        raise NotFoundError(
            "no message bus found: pass --project (and --task), set JRUN_MESSAGE_BUS, "
            "or run inside a task directory"
        )
    if task_id is not None and task_id != found.task_id:
        return _sibling_task_bus(found, task_id)
    return found


def _sibling_task_bus(found: BusLocation, task_id: str) -> BusLocation:
    """``--task B`` given inside task A (or a project): B's bus in the same project."""
    if not found.project_id:
        raise NotFoundError(f"cannot tell which project task {task_id!r} is in: pass --project")
    project_dir = found.path.parent.parent if found.task_id else found.path.parent
    return BusLocation(
        project_dir / task_id / TASK_BUS_FILE,
        found.project_id,
        task_id,
        project_dir.parent if project_dir.is_absolute() else None,
    )


def message_fields(
    location: BusLocation,
    *,
    project_id: str | None,
    task_id: str | None,
    run_id: str | None,
) -> tuple[str, str, str]:
    """project/task/run for a new message: flags, then the bus location, then JRUN_*.

    ``None`` means "not given"; an explicitly given id, even an empty one, is validated.
    """
    env = os.environ
    if project_id is None:
        project_id = location.project_id or env.get("JRUN_PROJECT_ID", "")
        if not project_id:
            raise NotFoundError("cannot tell which project the message is for: pass --project")
    validate_id(project_id, "project_id")
    task = task_id if task_id is not None else location.task_id or env.get("JRUN_TASK_ID", "")
    run = run_id if run_id is not None else env.get("JRUN_ID", "")
    if task or task_id is not None:
        validate_id(task, "task_id")
    if run or run_id is not None:
        validate_id(run, "run_id")
    return project_id, task, run
