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

from conductor_loop.errors import NotFoundError
from conductor_loop.storage import strpath
from conductor_loop.storage.ids import validate_id
from conductor_loop.storage.layout import (
    PROJECT_BUS_FILE,
    TASK_BUS_FILE,
    TASK_FILE,
    project_bus_file,
    task_bus_file,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `bus post` start-up
if TYPE_CHECKING:
    from pathlib import Path

    from conductor_loop.storage.layout import RunsRoot


class BusLocation:
    """A bus file and the project/task it belongs to. A plain class, not a dataclass, so
    that ``run-agent bus post`` does not import ``dataclasses``; it holds its paths as
    strings (``file``, ``root_dir``), and gives them as ``Path`` objects (``path``,
    ``root``) only when asked, so that posting does not import ``pathlib`` either."""

    __slots__ = ("file", "project_id", "root_dir", "task_id")
    file: str
    project_id: str
    task_id: str
    root_dir: str | None

    def __init__(
        self,
        path: str | os.PathLike[str],
        project_id: str = "",
        task_id: str = "",
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        set_field = object.__setattr__  # frozen
        set_field(self, "file", strpath.normal(os.fspath(path)))
        set_field(self, "project_id", project_id)
        set_field(self, "task_id", task_id)
        # The runs root it lives in (None: a file outside the layout); derived, not compared.
        set_field(self, "root_dir", None if root is None else strpath.normal(os.fspath(root)))

    @property
    def path(self) -> Path:
        from pathlib import Path

        return Path(self.file)

    @property
    def root(self) -> Path | None:
        from pathlib import Path

        return None if self.root_dir is None else Path(self.root_dir)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __reduce__(self) -> tuple[type[BusLocation], tuple[str, str, str, str | None]]:
        return BusLocation, (self.file, self.project_id, self.task_id, self.root_dir)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusLocation):
            return NotImplemented
        return (self.file, self.project_id, self.task_id) == (
            other.file,
            other.project_id,
            other.task_id,
        )

    def __hash__(self) -> int:
        return hash((self.file, self.project_id, self.task_id))

    def __repr__(self) -> str:
        return (
            f"BusLocation(path={self.file!r}, project_id={self.project_id!r}, "
            f"task_id={self.task_id!r}, root={self.root_dir!r})"
        )


def infer_context(bus_path: str | os.PathLike[str]) -> BusLocation:
    """Project/task (and runs root, for an absolute path) implied by where a bus file sits
    in the layout."""
    path = strpath.normal(os.fspath(bus_path))
    known = path.startswith("/")
    file_name = strpath.name(path)
    if file_name == TASK_BUS_FILE:
        task_dir = strpath.parent(path)
        project_dir = strpath.parent(task_dir)
        root = strpath.parent(project_dir) if known else None
        return BusLocation(path, strpath.name(project_dir), strpath.name(task_dir), root)
    if file_name == PROJECT_BUS_FILE:
        project_dir = strpath.parent(path)
        root = strpath.parent(project_dir) if known else None
        return BusLocation(path, strpath.name(project_dir), root=root)
    return BusLocation(path)


def discover_bus(start: str | os.PathLike[str]) -> BusLocation | None:
    """Walk up from ``start`` (made absolute) to the nearest task or project bus."""
    directory = strpath.absolute(os.fspath(start))
    while True:
        task_bus = strpath.join(directory, TASK_BUS_FILE)
        if os.path.isfile(task_bus) or os.path.isfile(strpath.join(directory, TASK_FILE)):
            return infer_context(task_bus)
        project_bus = strpath.join(directory, PROJECT_BUS_FILE)
        if os.path.isfile(project_bus):
            return infer_context(project_bus)
        up = strpath.parent(directory)
        if up == directory:
            return None
        directory = up


def resolve_bus(
    root: RunsRoot | str | None,
    *,
    bus: str | None = None,
    project_id: str | None = None,
    task_id: str | None = None,
    start: str | os.PathLike[str] | None = None,
) -> BusLocation:
    """The bus a command addresses; NotFoundError explains what to pass when none is found.

    ``root`` is the runs root (a ``RunsRoot`` or its directory as a string, as
    ``layout.runs_root_dir`` gives it). ``None`` means "not given"; an explicitly given
    id, even an empty one, is validated.
    """
    if bus:
        return infer_context(strpath.absolute(bus))
    if task_id is not None and project_id is None:
        project_id = os.environ.get("JRUN_PROJECT_ID") or None
        if project_id is None:
            validate_id(task_id, "task_id")
    if project_id is not None:
        if root is None:
            raise NotFoundError("no runs root to place the bus in (pass --root)")
        root_dir = root if isinstance(root, str) else os.fspath(root.path)
        if task_id is not None:
            return BusLocation(
                task_bus_file(root_dir, project_id, task_id), project_id, task_id, root_dir
            )
        return BusLocation(project_bus_file(root_dir, project_id), project_id, root=root_dir)
    env_bus = os.environ.get("JRUN_MESSAGE_BUS")
    found = (
        infer_context(env_bus) if env_bus else discover_bus(os.getcwd() if start is None else start)
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
    bus_dir = strpath.parent(found.file)
    project_dir = strpath.parent(bus_dir) if found.task_id else bus_dir
    return BusLocation(
        strpath.join(project_dir, task_id, TASK_BUS_FILE),
        found.project_id,
        task_id,
        strpath.parent(project_dir) if project_dir.startswith("/") else None,
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
