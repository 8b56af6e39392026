"""Where everything lives under the runs root (spec §3). All ids are validated here."""

from __future__ import annotations

import errno
import os

from conductor_loop.errors import NotFoundError
from conductor_loop.storage import strpath
from conductor_loop.storage.containment import list_dirs_inside, make_dirs_inside, open_dir_inside
from conductor_loop.storage.ids import validate_id

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `bus post` start-up
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PROJECT_BUS_FILE = "PROJECT-MESSAGE-BUS.md"
TASK_BUS_FILE = "TASK-MESSAGE-BUS.md"
TASK_FILE = "TASK.md"
TASK_STATE_FILE = "TASK_STATE.md"
DONE_FILE = "DONE"
LOOP_STATE_FILE = ".loop.json"  # the task's loop: its settings, and how it ended (task_loop)
RUNS_SUBDIR = "runs"
PROMPT_FILE = "prompt.md"
OUTPUT_FILE = "output.md"
STDOUT_FILE = "agent-stdout.txt"
STDERR_FILE = "agent-stderr.txt"

DEFAULT_RUNS_ROOT = "~/.run-agent/runs"


class RunsRoot:
    """The runs root directory; every path method validates the ids it is given, and
    everything it creates or lists is reached without symlinks (``storage.containment``).

    Immutable. A plain class, not a dataclass, so that ``run-agent bus post`` does not
    import ``dataclasses``."""

    __slots__ = ("path",)
    path: Path

    def __init__(self, path: Path) -> None:
        object.__setattr__(self, "path", path)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __reduce__(self) -> tuple[type[RunsRoot], tuple[Path]]:  # pickle and copy
        return RunsRoot, (self.path,)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunsRoot):
            return NotImplemented
        return self.path == other.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __repr__(self) -> str:
        return f"RunsRoot(path={self.path!r})"

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> RunsRoot:
        from pathlib import Path  # here, not at the top: `bus post` never builds a RunsRoot

        return cls(Path(strpath.absolute(os.fspath(path))))

    def project_dir(self, project_id: str) -> Path:
        return self.path / validate_id(project_id, "project_id")

    def task_dir(self, project_id: str, task_id: str) -> Path:
        return self.project_dir(project_id) / validate_id(task_id, "task_id")

    def existing_project_dir(self, project_id: str) -> Path:
        """The project's directory; NotFoundError (``project X not found``) if it has none."""
        project_dir = self.project_dir(project_id)
        if not project_dir.is_dir():
            raise NotFoundError(f"project {project_id} not found")
        return project_dir

    def existing_task_dir(self, project_id: str, task_id: str) -> Path:
        """The task's directory; NotFoundError naming the project or the task if missing."""
        task_dir = self.existing_project_dir(project_id) / validate_id(task_id, "task_id")
        if not task_dir.is_dir():
            raise NotFoundError(f"task {project_id}/{task_id} not found")
        return task_dir

    def runs_dir(self, project_id: str, task_id: str) -> Path:
        return self.task_dir(project_id, task_id) / RUNS_SUBDIR

    def run_dir(self, project_id: str, task_id: str, run_id: str) -> Path:
        return self.runs_dir(project_id, task_id) / validate_id(run_id, "run_id")

    def project_bus(self, project_id: str) -> Path:
        return self.path.joinpath(*_project_bus_parts(project_id))

    def task_bus(self, project_id: str, task_id: str) -> Path:
        return self.path.joinpath(*_task_bus_parts(project_id, task_id))

    def ensure_task_dir(self, project_id: str, task_id: str) -> Path:
        task_dir = self.task_dir(project_id, task_id)
        make_dirs_inside(self.path, task_dir / RUNS_SUBDIR)
        return task_dir

    def create_run_dir(self, project_id: str, task_id: str, run_id: str) -> Path:
        """Create a new run directory; an existing one is an error (ids are unique)."""
        run_dir = self.run_dir(project_id, task_id, run_id)
        runs_fd = open_dir_inside(self.path, run_dir.parent, create=True)
        try:
            os.mkdir(run_id, dir_fd=runs_fd)
        except FileExistsError:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(run_dir)) from None
        finally:
            os.close(runs_fd)
        return run_dir

    def project_ids(self) -> list[str]:
        return list_dirs_inside(self.path, self.path)

    def task_ids(self, project_id: str) -> list[str]:
        return list_dirs_inside(self.path, self.project_dir(project_id))

    def run_ids(self, project_id: str, task_id: str) -> list[str]:
        return list_dirs_inside(self.path, self.runs_dir(project_id, task_id))

    def iter_run_dirs(self) -> Iterator[tuple[str, str, str, Path]]:
        """Every run directory as ``(project_id, task_id, run_id, run_dir)``."""
        for project_id in self.project_ids():
            for task_id in self.task_ids(project_id):
                runs_dir = self.runs_dir(project_id, task_id)
                for run_id in list_dirs_inside(self.path, runs_dir):
                    yield project_id, task_id, run_id, runs_dir / run_id


def resolve_runs_root(flag: str | None = None, configured: str | None = None) -> RunsRoot:
    """``--root`` flag → ``CONDUCTOR_ROOT`` → ``storage.runs_dir`` from config → default."""
    return RunsRoot.at(runs_root_dir(flag, configured))


def runs_root_dir(flag: str | None = None, configured: str | None = None) -> str:
    """``resolve_runs_root(...).path`` as a string, without building a ``RunsRoot``."""
    for candidate in (flag, os.environ.get("CONDUCTOR_ROOT"), configured):
        if candidate:
            return strpath.absolute(candidate)
    return strpath.absolute(DEFAULT_RUNS_ROOT)


def project_bus_file(root_dir: str, project_id: str) -> str:
    """``RunsRoot.project_bus`` as a string, under the runs root ``root_dir``."""
    return strpath.join(root_dir, *_project_bus_parts(project_id))


def task_bus_file(root_dir: str, project_id: str, task_id: str) -> str:
    """``RunsRoot.task_bus`` as a string, under the runs root ``root_dir``."""
    return strpath.join(root_dir, *_task_bus_parts(project_id, task_id))


def _project_bus_parts(project_id: str) -> tuple[str, str]:
    return validate_id(project_id, "project_id"), PROJECT_BUS_FILE


def _task_bus_parts(project_id: str, task_id: str) -> tuple[str, str, str]:
    return (
        validate_id(project_id, "project_id"),
        validate_id(task_id, "task_id"),
        TASK_BUS_FILE,
    )
