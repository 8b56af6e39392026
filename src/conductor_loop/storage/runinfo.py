"""run-info.yaml: the record of one run, rewritten atomically at each state change."""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conductor_loop.errors import StorageError
from conductor_loop.storage.atomic import atomic_write_text
from conductor_loop.storage.containment import open_inside
from conductor_loop.storage.usage import USAGE_KEY, Usage
from conductor_loop.storage.yamlish import parse_block, scalar, timestamp

RUN_INFO_FILE = "run-info.yaml"

STATUS_RUNNING = "running"
STATUS_COMPLETED = "completed"
STATUS_FAILED = "failed"
STATUS_STOPPED = "stopped"
FINISHED_STATUSES = frozenset({STATUS_COMPLETED, STATUS_FAILED, STATUS_STOPPED})

_INT_FIELDS = frozenset({"version", "pid", "pgid", "exit_code", "runner_pid"})
_TIME_FIELDS = frozenset({"start_time", "end_time", "heartbeat_time"})
GO_ZERO_TIME_DATE = "0001-01-01"  # the date of Go's zero time.Time


def iso_utc(epoch: float | None = None) -> str:
    """ISO-8601 UTC with milliseconds, e.g. ``2026-02-23T19:17:10.123Z``."""
    now = time.time() if epoch is None else epoch
    whole = int(now)
    millis = int((now - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


@dataclass(slots=True)
class RunInfo:
    """Fields of run-info.yaml (spec §3). Unknown keys read from disk are kept in ``extra``."""

    run_id: str
    project_id: str
    task_id: str
    version: int = 1
    parent_run_id: str = ""
    previous_run_id: str = ""
    agent: str = ""
    process_ownership: str = "managed"
    pid: int = 0
    pgid: int = 0
    status: str = STATUS_RUNNING
    start_time: str = ""
    end_time: str = ""
    exit_code: int = -1
    cwd: str = ""
    prompt_path: str = ""
    output_path: str = ""
    stdout_path: str = ""
    stderr_path: str = ""
    commandline: str = ""
    error_summary: str = ""
    agent_version: str = ""
    backend_model: str = ""
    host: str = ""
    instance_id: str = ""
    runner_pid: int = 0
    heartbeat_time: str = ""
    # Where a Ray executor placed the run (runner.placement); left out of the file when
    # empty, as every run outside Ray has them.
    ray_node_id: str = ""
    ray_worker_id: str = ""
    ray_job_id: str = ""
    ray_node_name: str = ""
    usage: Usage | None = None  # token and cost figures, known at the run's end
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def to_yaml(self) -> str:
        """Render in a fixed key order; empty optional fields are written as ``""``.

        ``end_time`` is left out while it is empty: the Go tool reads it as a time, and
        an empty string there fails its whole read of the record (a missing key is its
        zero time, which it takes as "not ended"); so are the ``ray_*`` fields, which
        only runs placed by Ray have. The one nested mapping, ``usage``,
        comes last (and only when a figure is known), so that everything before it is
        flat ``key: value`` lines.
        """
        lines = [
            f"{name}: {render(value)}"
            for name, render in _RENDERERS
            if (value := getattr(self, name)) != "" or name not in _OMIT_EMPTY
        ]
        # Keys written by other tools (e.g. the Go implementation) survive a rewrite.
        for key, value in self.extra.items():
            if isinstance(value, str) and _EXTRA_KEY.match(key):
                lines.append(f"{key}: {scalar(value)}")
        if self.usage is not None:
            lines += self.usage.to_yaml_lines()
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready); ``usage`` is None when no figure is known."""
        data = {f.name: getattr(self, f.name) for f in _FIELDS}
        data[USAGE_KEY] = self.usage.figures() if self.usage is not None else None
        return data

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> RunInfo:
        """Build from a loaded mapping; tolerant of unknown and missing optional keys."""
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key not in _FIELD_NAMES:
                if key == USAGE_KEY:
                    kwargs[key] = Usage.from_mapping(value)
                else:
                    extra[str(key)] = value
                continue
            if key in _INT_FIELDS:
                try:
                    kwargs[key] = int(value) if value not in (None, "") else _DEFAULTS[key]
                except (TypeError, ValueError):
                    raise ValueError(
                        f"run-info field {key!r} is not an integer: {value!r}"
                    ) from None
            elif key in _TIME_FIELDS:
                text = "" if value is None else str(value)
                # Go's zero time (0001-01-01T00:00:00Z) means "not set", as empty does here.
                kwargs[key] = "" if text.startswith(GO_ZERO_TIME_DATE) else text
            else:
                kwargs[key] = "" if value is None else str(value)
        for required in ("run_id", "project_id", "task_id"):
            if not kwargs.get(required):
                raise ValueError(f"run-info is missing required field {required!r}")
        return cls(**kwargs, extra=extra)


_FIELDS = [f for f in dataclasses.fields(RunInfo) if f.name not in ("extra", USAGE_KEY)]
_RENDERERS: list[tuple[str, Callable[[Any], str]]] = [
    (
        f.name,
        (lambda v: str(int(v)))
        if f.name in _INT_FIELDS
        else timestamp
        if f.name in _TIME_FIELDS
        else (lambda v: scalar(str(v))),
    )
    for f in _FIELDS
]
_OMIT_EMPTY = frozenset({"end_time", "ray_node_id", "ray_worker_id", "ray_job_id", "ray_node_name"})
_EXTRA_KEY = re.compile(r"[a-z][a-z0-9_]*\Z")
_FIELD_NAMES = frozenset(f.name for f in _FIELDS)
_DEFAULTS = {f.name: f.default for f in _FIELDS}


class RunInfoError(ValueError):
    """run-info.yaml exists but cannot be read as a run record."""


def run_info_from_text(text: str) -> RunInfo:
    """A RunInfo from run-info.yaml text; ValueError if it is not a run record."""
    return RunInfo.from_mapping(parse_block(text))


def read_run_info(run_dir: Path) -> RunInfo:
    """Read ``run_dir/run-info.yaml``. Raises FileNotFoundError or RunInfoError."""
    path = run_dir / RUN_INFO_FILE
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    try:
        return run_info_from_text(text)
    except ValueError as exc:
        raise RunInfoError(f"{path}: {exc}") from None


def write_run_info(
    run_dir: Path, info: RunInfo, *, fsync: bool = True, root: Path | None = None
) -> None:
    """Atomically replace ``run_dir/run-info.yaml`` with ``info`` (``root``: the runs root,
    to reach ``run_dir`` under the containment rule).

    Replacing needs room for a second copy. On a full disk the record is rewritten in
    place instead, within the blocks it already has, so that a run's end is still
    recorded; StorageError if even that cannot be done.
    """
    path = run_dir / RUN_INFO_FILE
    text = info.to_yaml()
    try:
        atomic_write_text(path, text, fsync=fsync, root=root)
    except StorageError as exc:
        if exc.code != "storage_full" or not _rewrite_in_place(path, text.encode(), fsync, root):
            raise


def _rewrite_in_place(path: Path, data: bytes, fsync: bool, root: Path | None) -> bool:
    """Overwrite ``path`` with ``data`` if that needs no new block; False if it would.

    A shorter record is padded with newlines (blank lines, which every reader skips)
    rather than truncated, so a reader never sees the old record's tail after it.
    """
    flags = os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW  # never created here
    try:
        fd = open_inside(root, path, flags) if root is not None else os.open(path, flags)
    except OSError:
        return False
    try:
        stat = os.fstat(fd)
        if len(data) > stat.st_blocks * 512:
            return False
        data += b"\n" * (stat.st_size - len(data))
        if os.pwrite(fd, data, 0) != len(data):
            return False
        if fsync:
            os.fsync(fd)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def current_host() -> str:
    return os.uname().nodename
