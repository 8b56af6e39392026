"""What the API returns, as plain dataclasses: the client imports neither FastAPI nor
pydantic, so a command that uses it starts fast.

Each class mirrors the response model of the same name in ``api.models`` (a test checks
that their fields agree). ``from_json`` builds one from a decoded reply; keys this
version does not know are ignored, so a newer server still works with an older client.
``dataclasses.asdict`` gives the reply back as a dict.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

from conductor_loop.client.errors import ProtocolError

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Version:
    name: str
    version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRef:
    project_id: str
    task_id: str
    run_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerStatus:
    status: str
    version: str
    uptime_seconds: float
    runs_dir: str
    active_runs: int
    runs_by_status: dict[str, int]
    agents: list[str]
    default_agent: str | None
    running_tasks: list[TaskRef]
    queued_tasks: int
    sse_clients: int
    partial: bool = False  # the server is still indexing: the list may be incomplete


@dataclass(frozen=True, slots=True, kw_only=True)
class RunUsage:
    """What a run's agent reported; None where not known."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageTotal(RunUsage):
    """The sum over runs; ``runs`` is how many of them reported any figure."""

    runs: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    run_id: str
    project_id: str
    task_id: str
    parent_run_id: str
    previous_run_id: str
    agent: str
    status: str
    start_time: str
    end_time: str
    exit_code: int
    pid: int
    process_ownership: str
    error_summary: str
    backend_model: str
    host: str
    usage: RunUsage | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunDetail(RunSummary):
    run_dir: str
    cwd: str
    commandline: str
    agent_version: str
    instance_id: str
    heartbeat_time: str
    files: dict[str, int]
    # Where a Ray executor placed the run; empty outside Ray (and from older servers).
    ray_node_id: str = ""
    ray_worker_id: str = ""
    ray_job_id: str = ""
    ray_node_name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunList:
    runs: list[RunSummary]
    total: int
    offset: int
    limit: int | None
    partial: bool = False  # the server is still indexing: the list may be incomplete


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFile:
    run_id: str
    name: str
    size: int
    offset: int
    truncated: bool
    content: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StopAccepted:
    run_id: str
    status: str
    stop_requested: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCreated:
    project_id: str
    task_id: str
    run_id: str | None
    status: str
    queue_position: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSummary:
    project_id: str
    task_id: str
    status: str
    done: bool
    run_count: int
    last_run_id: str | None
    last_run_status: str | None
    last_activity: str | None
    queue_position: int | None
    depends_on: list[str]
    waiting_for: list[str]
    usage: UsageTotal
    stop_reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskBudget:
    max_cost_usd: float | None
    max_tokens: int | None
    action: str
    spent_cost_usd: float
    spent_tokens: int
    unknown_cost_runs: int
    exceeded: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskDetail(TaskSummary):
    task_dir: str
    stop_requested: bool
    budget: TaskBudget
    runs: list[RunSummary]


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskList:
    tasks: list[TaskSummary]
    total: int
    offset: int
    limit: int | None
    partial: bool = False  # the server is still indexing: the list may be incomplete


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFile:
    project_id: str
    task_id: str
    name: str
    content: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskAction:
    project_id: str
    task_id: str
    status: str
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectSummary:
    project_id: str
    task_count: int
    run_count: int
    running_runs: int
    last_activity: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectList:
    projects: list[ProjectSummary]
    partial: bool = False  # the server is still indexing: the list may be incomplete


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectStats:
    project_id: str
    task_count: int
    tasks_by_status: dict[str, int]
    run_count: int
    runs_by_status: dict[str, int]
    bus_bytes: int
    message_bus: str
    usage: UsageTotal


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageParent:
    msg_id: str
    kind: str = ""
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageLink:
    url: str
    label: str = ""
    kind: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A message-bus record (``MessageOut`` in the API)."""

    msg_id: str
    ts: str
    type: str
    project_id: str
    task_id: str
    run_id: str
    issue_id: str | None = None
    parents: list[MessageParent]
    links: list[MessageLink]
    meta: dict[str, str]
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageList:
    messages: list[Message]
    total: int


# -- events -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One server-sent event as received: its ``event`` name, ``id`` (the last one
    seen, as the SSE format defines it) and ``data`` decoded from JSON (the raw text when
    it is not JSON)."""

    event: str
    id: str | None
    data: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class LogLine:
    """One line a run wrote, with the id to resume after it (``Last-Event-ID``)."""

    stream: str
    line: str
    event_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStatusChanged:
    run_id: str
    status: str
    exit_code: int
    event_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunDone:
    """The last event of a run's stream: how the run ended ("deleted" if it was)."""

    run_id: str
    status: str
    exit_code: int
    event_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat:
    ts: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RunDeleted:
    """In the all-runs stream: a run that was deleted."""

    run_id: str
    event_id: str | None = None


RunEvent = LogLine | RunStatusChanged | RunDone | Heartbeat


# -- building ---------------------------------------------------------------------------


def from_json(cls: type[T], data: Any) -> T:
    """A ``cls`` built from a decoded JSON reply; ProtocolError when it does not fit."""
    try:
        return typing.cast(T, _build(cls, data, cls.__name__))
    except _Mismatch as exc:
        raise ProtocolError(f"unexpected reply from the server: {exc}") from None


class _Mismatch(Exception):
    pass


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return _build(inner, value, where)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if not isinstance(value, dict):
            raise _Mismatch(f"{where} is not an object")
        hints = _hints(kind)
        values: dict[str, Any] = {}
        for item in dataclasses.fields(kind):
            if item.name in value:
                values[item.name] = _build(
                    hints[item.name], value[item.name], f"{where}.{item.name}"
                )
            elif (
                item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
            ):
                raise _Mismatch(f"{where} has no {item.name!r}")
        return kind(**values)
    if origin is list:
        if not isinstance(value, list):
            raise _Mismatch(f"{where} is not a list")
        (inner,) = typing.get_args(kind)
        return [_build(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch(f"{where} is not an object")
        _, inner = typing.get_args(kind)
        return {k: _build(inner, v, f"{where}.{k}") for k, v in value.items()}
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (str, int, float, bool) and not isinstance(value, kind):
        raise _Mismatch(f"{where} is not a {kind.__name__}: {value!r}")
    return value
