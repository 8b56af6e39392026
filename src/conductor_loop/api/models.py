"""Request and response schemas: they make the OpenAPI document describe what is sent.

Hot list endpoints build their JSON from cached bytes rather than through these models;
the models still document the shape, and the schema tests check the two agree.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from conductor_loop.config.models import Duration

ID_PATTERN = r"^[^./\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]{0,127}$"
IdField = Field(min_length=1, max_length=128)


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


PARTIAL_DOC = (
    "true while the server, just started, is still indexing the runs root: the list "
    "(or the counts) may miss entries; lookups by id are complete. The response then "
    "also has the header X-Index-Partial: true."
)


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Version(BaseModel):
    name: str = "conductor-loop"
    version: str


class TaskRef(BaseModel):
    project_id: str
    task_id: str
    run_id: str | None = None


class ServerStatus(BaseModel):
    status: Literal["ok"] = "ok"
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
    partial: bool = Field(False, description=PARTIAL_DOC)


class RunUsage(BaseModel):
    """What a run's agent reported (cost: its own, or from the agent's ``pricing``);
    null where not known."""

    input_tokens: int | None = Field(
        default=None, description="all input tokens, cached ones included"
    )
    output_tokens: int | None = None
    cached_input_tokens: int | None = Field(
        default=None, description="the part of the input read from a prompt cache"
    )
    cost_usd: float | None = None


class UsageTotal(RunUsage):
    """The sum of the figures runs reported; a figure no run reported is null."""

    runs: int = Field(description="how many of the runs reported any figure")


class RunSummary(BaseModel):
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
    usage: RunUsage | None = Field(description="null when the run reported no figure")


class RunDetail(RunSummary):
    run_dir: str
    cwd: str
    commandline: str
    agent_version: str
    instance_id: str
    heartbeat_time: str
    files: dict[str, int] = Field(description="file name → size in bytes, for files present")
    ray_node_id: str = Field("", description="the Ray node the run ran on; empty outside Ray")
    ray_worker_id: str = Field("", description="the Ray worker of the loop's actor")
    ray_job_id: str = Field("", description="the Ray job that submitted the loop")
    ray_node_name: str = Field("", description="the Ray node's host name")


class RunList(BaseModel):
    runs: list[RunSummary]
    total: int
    offset: int
    limit: int | None
    partial: bool = Field(False, description=PARTIAL_DOC)


class RunFile(BaseModel):
    run_id: str
    name: str
    size: int
    offset: int
    truncated: bool
    content: str


class StopAccepted(BaseModel):
    run_id: str
    status: str
    stop_requested: bool


class TaskCreate(BaseModel):
    """A task to create and start (``run-agent task`` in its own process)."""

    model_config = ConfigDict(extra="forbid")

    project_id: str = IdField
    task_id: str | None = Field(
        default=None, min_length=1, max_length=128, description="default: generated"
    )
    prompt: str = Field(min_length=1, max_length=1_000_000)
    agent_type: str | None = Field(
        default=None,
        max_length=64,
        validation_alias=AliasChoices("agent_type", "agent"),
        description="configured agent name or backend type (default: defaults.agent)",
    )
    depends_on: list[str] = Field(default_factory=list, max_length=100)
    max_restarts: int | None = Field(default=None, ge=0, le=100_000)
    restart_delay: Annotated[float, Duration(le=86_400)] | None = None
    timeout: Annotated[float, Duration(le=7 * 86_400)] | None = None
    cwd: str | None = Field(default=None, max_length=4096)
    max_cost_usd: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="budget in USD over all the task's runs (default: defaults.max_cost_usd; "
        "0: none)",
    )
    max_tokens: int | None = Field(
        default=None,
        ge=0,
        description="budget in input + output tokens (default: defaults.max_tokens; 0: none)",
    )
    budget_action: Literal["finish_run", "stop_run"] | None = Field(
        default=None,
        description="when the budget is reached, let running runs finish or stop them "
        "(default: defaults.budget_action)",
    )


class TaskCreated(BaseModel):
    project_id: str
    task_id: str
    run_id: str | None
    status: str
    queue_position: int | None = None


class TaskSummary(BaseModel):
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
    usage: UsageTotal = Field(description="the total over the task's runs")
    stop_reason: str | None = Field(
        description="why the task's last loop stopped (a stop request, its budget); null "
        "unless it ended stopped"
    )


class TaskBudget(BaseModel):
    """The task's budget and what its runs have spent (known at each run's end)."""

    max_cost_usd: float | None = Field(description="null: no cost limit")
    max_tokens: int | None = Field(description="null: no token limit")
    action: Literal["finish_run", "stop_run"]
    spent_cost_usd: float = Field(description="the runs' known costs; unknown ones count 0")
    spent_tokens: int = Field(description="input + output tokens (cached input inside input)")
    unknown_cost_runs: int = Field(description="ended runs whose cost is not known")
    exceeded: bool = Field(description="spending has reached a limit: no further run starts")


class TaskDetail(TaskSummary):
    task_dir: str
    stop_requested: bool
    budget: TaskBudget
    runs: list[RunSummary]


class TaskList(BaseModel):
    tasks: list[TaskSummary]
    total: int
    offset: int
    limit: int | None
    partial: bool = Field(False, description=PARTIAL_DOC)


class TaskFile(BaseModel):
    project_id: str
    task_id: str
    name: str
    content: str


class TaskAction(BaseModel):
    project_id: str
    task_id: str
    status: str
    detail: str = ""


class ProjectSummary(BaseModel):
    project_id: str
    task_count: int
    run_count: int
    running_runs: int
    last_activity: str | None


class ProjectList(BaseModel):
    projects: list[ProjectSummary]
    partial: bool = Field(False, description=PARTIAL_DOC)


class ProjectStats(BaseModel):
    project_id: str
    task_count: int
    tasks_by_status: dict[str, int]
    run_count: int
    runs_by_status: dict[str, int]
    bus_bytes: int
    message_bus: str
    usage: UsageTotal = Field(description="the total over the project's runs")


class MessageParent(BaseModel):
    msg_id: str
    kind: str = ""
    meta: dict[str, str] = Field(default_factory=dict)


class MessageLink(BaseModel):
    url: str
    label: str = ""
    kind: str = ""


class MessageOut(BaseModel):
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


class MessageList(BaseModel):
    messages: list[MessageOut]
    total: int


class MessagePost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str | None = Field(default=None, min_length=1, max_length=128)
    task_id: str | None = Field(default=None, min_length=1, max_length=128)
    run_id: str | None = Field(default=None, min_length=1, max_length=128)
    type: str = Field(default="USER", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    body: str = Field(default="", max_length=1_000_000)
    meta: dict[str, str] = Field(default_factory=dict)
    parents: list[str] = Field(default_factory=list, max_length=100)


SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events (text/event-stream); resume with Last-Event-ID.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid id or request"},
    401: {"model": ErrorBody, "description": "Missing or wrong API key"},
    403: {
        "model": ErrorBody,
        "description": "Host not allowed (api.allowed_hosts), a state-changing request "
        "from another site's page (api.cors_origins), or a path through a symlink in the "
        "runs root",
    },
    404: {"model": ErrorBody, "description": "Not found"},
    409: {"model": ErrorBody, "description": "Conflicts with the current state"},
    413: {"model": ErrorBody, "description": "Request body too large"},
    415: {
        "model": ErrorBody,
        "description": "A POST or DELETE without 'Content-Type: application/json' "
        "(required also without a body)",
    },
    422: {"model": ErrorBody, "description": "Request does not match the schema"},
    503: {
        "model": ErrorBody,
        "description": "Storage read-only or not writable; bus locked; too many connections",
    },
    507: {"model": ErrorBody, "description": "The disk under the runs root is full"},
}
