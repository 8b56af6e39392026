"""Configuration (spec §7) as plain dataclasses.

pydantic validates them (``config.validation``), but holding and reading a config does
not need it: with a cached, already validated config (``config.cache``) a command
started often, such as ``run-agent job``, never imports pydantic. The ``Annotated``
markers below describe constraints in a form pydantic reads when it validates.
Secrets are ``Secret`` so that no repr, log or dump shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from conductor_loop.durations import parse_duration
from conductor_loop.errors import ConfigError

AgentType = Literal["claude", "codex", "gemini", "perplexity", "xai"]
# What a task's loop does with its running runs when its budget is spent: let them end
# on their own, or stop them (``runner.budget``).
BudgetAction = Literal["finish_run", "stop_run"]
MASK = "**********"


class Secret:
    """A token or key: ``repr`` and ``str`` show a mask, ``get_secret_value()`` the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_before_validator_function(
            _unwrap_secret,
            core_schema.no_info_after_validator_function(cls, core_schema.str_schema()),
            serialization=core_schema.plain_serializer_function_ser_schema(lambda _s: MASK),
        )


def _unwrap_secret(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, Secret) else value


@dataclass(frozen=True, slots=True)
class _Range:
    """Bounds for a number, checked by pydantic (with its usual messages)."""

    ge: int | None = None
    le: int | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        schema = handler(source)
        if self.ge is not None:
            schema["ge"] = self.ge
        if self.le is not None:
            schema["le"] = self.le
        return schema


def _seconds(value: Any) -> Any:
    if isinstance(value, str | bool):  # a bool is no duration, though it is an int
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
    return value


@dataclass(frozen=True, slots=True)
class Duration:
    """Seconds given as a number or a duration string (``90``, ``"1m30s"``), not negative,
    at most ``le``: one type for config keys and API fields (``Seconds``); the CLI's
    ``DURATION`` parses the same syntax."""

    le: float | None = None

    def __get_pydantic_core_schema__(self, _source: Any, _handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_before_validator_function(
            _seconds, core_schema.float_schema(ge=0, le=self.le)
        )

    def __get_pydantic_json_schema__(self, _schema: Any, _handler: Any) -> dict[str, Any]:
        from conductor_loop.durations import PATTERN

        number: dict[str, Any] = {"type": "number", "minimum": 0}
        if self.le is not None:
            number["maximum"] = self.le
        return {
            "anyOf": [number, {"type": "string", "pattern": PATTERN}],
            "description": "seconds, or a duration such as 500ms, 10s, 5m, 1h, 1h30m",
        }


Seconds = Annotated[float, Duration()]
NonNegative = Annotated[int, _Range(ge=0)]
Port = Annotated[int, _Range(ge=0, le=65535)]
BodyLimit = Annotated[int, _Range(ge=1024)]
Connections = Annotated[int, _Range(ge=1)]
Price = Annotated[float, _Range(ge=0)]

_SECTION: dict[str, Any] = {"extra": "forbid", "validate_default": True}


def _read_secret_file(path_text: str, what: str) -> str | None:
    path = Path(path_text).expanduser()
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None


@dataclass(slots=True)
class Pricing:
    """An agent's prices in USD per million tokens, for agents that report no cost."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _SECTION

    input_per_mtok: Price
    output_per_mtok: Price
    cached_input_per_mtok: Price | None = None  # default: the input price

    def cost_usd(
        self,
        input_tokens: int | None,
        output_tokens: int | None,
        cached_input_tokens: int | None = None,
    ) -> float | None:
        """What the tokens cost; None unless both input and output counts are known.

        ``input_tokens`` includes the cached ones: the uncached part is priced at
        ``input_per_mtok``, the cached part at ``cached_input_per_mtok`` (or the input
        price when that is not given), the output at ``output_per_mtok``.
        """
        if input_tokens is None or output_tokens is None:
            return None
        cached = cached_input_tokens or 0
        cached_price = self.cached_input_per_mtok
        if cached_price is None:
            cached_price = self.input_per_mtok
        dollars = (
            max(0, input_tokens - cached) * self.input_per_mtok
            + cached * cached_price
            + output_tokens * self.output_per_mtok
        ) / 1_000_000
        return round(dollars, 10)


@dataclass(slots=True)
class AgentConfig:
    """One configured agent: which backend, how to reach it, which secret it uses."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _SECTION

    type: AgentType
    token: Secret | None = None
    token_file: str | None = None
    token_env: str | None = None  # overrides the env var the token is passed in
    command: str | None = None  # executable to run instead of the default
    args: list[str] = field(default_factory=list)  # extra command-line arguments
    model: str | None = None
    base_url: str | None = None
    timeout: Seconds | None = None
    env: dict[str, str] = field(default_factory=dict)
    pricing: Pricing | None = None  # prices the run's tokens when the agent reports no cost
    # Only in the copy of the config agents see (config.agent_view): which secrets it
    # left out, "token" and "env.NAME", so that a child run can say why it lacks them.
    withheld: list[str] = field(default_factory=list)

    def resolve_token(self, agent: str | None = None) -> str | None:
        """The token from ``token`` or ``token_file`` (``~`` expanded, stripped); an
        unreadable file is a ConfigError naming the file and ``agent`` (its name)."""
        if self.token is not None:
            return self.token.get_secret_value().strip() or None
        if self.token_file:
            what = f"agent {agent!r} token_file" if agent else "token_file"
            return _read_secret_file(self.token_file, what)
        return None


@dataclass(slots=True)
class DefaultsConfig:
    __pydantic_config__: ClassVar[dict[str, Any]] = _SECTION

    agent: str | None = None
    timeout: Seconds = 300
    max_restarts: NonNegative = 100
    restart_delay: Seconds = 1
    child_wait_timeout: Seconds = 300
    child_poll_interval: Seconds = 1
    stop_grace_period: Seconds = 30
    max_concurrent_runs: NonNegative = 0
    max_concurrent_root_tasks: NonNegative = 0
    heartbeat_interval: Seconds = 5
    heartbeat_timeout: Seconds = 30
    # A task's budget over all its runs (runner.budget); None or 0: no limit.
    max_cost_usd: Price | None = None
    max_tokens: NonNegative | None = None
    budget_action: BudgetAction = "finish_run"


@dataclass(slots=True)
class ApiConfig:
    __pydantic_config__: ClassVar[dict[str, Any]] = _SECTION

    host: str = "127.0.0.1"  # loopback: a wider bind always has a key (api.auth)
    port: Port = 14355
    cors_origins: list[str] = field(default_factory=list)
    allowed_hosts: list[str] = field(default_factory=list)  # besides localhost and the bind
    api_key: Secret | None = None
    api_key_file: str | None = None
    insecure: bool = False  # the only way to serve a wider bind with no key
    max_body_bytes: BodyLimit = 1_048_576
    public_url: str | None = None
    max_connections: Connections = 1000  # more are answered 503 and closed at once
    header_timeout: Seconds = 10  # a connection must send its request headers within this
    keepalive_timeout: Seconds = 5  # an idle kept-alive connection is closed after this
    workers: NonNegative = 0  # server processes on the one port; 0: one per CPU core

    def resolve_api_key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value().strip() or None
        if self.api_key_file:
            return _read_secret_file(self.api_key_file, "api.api_key_file")
        return None


@dataclass(slots=True)
class StorageConfig:
    __pydantic_config__: ClassVar[dict[str, Any]] = _SECTION

    runs_dir: str | None = None
    state_dir: str | None = None  # our own state, outside the runs root (storage.state)
    bus_fsync: bool = False
    bus_rotate_bytes: NonNegative = 0  # 0 = never rotate


ExecutorType = Literal["local", "ray"]
# ``auto`` (the cluster this node belongs to), ``local`` (start one in-process: tests),
# ``ray://HOST:PORT`` (Ray Client) or ``HOST:PORT`` (the GCS of a cluster this host joins).
_RAY_ADDRESS = (
    r"^(auto|local|ray://[A-Za-z0-9.\-_\[\]:]+:[0-9]{1,5}|[A-Za-z0-9.\-_\[\]:]+:[0-9]{1,5})$"
)


class _Shorthand:
    """Lets ``executor: local`` (a bare type) stand for ``executor: {type: local}``."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_before_validator_function(
            lambda value: {"type": value} if isinstance(value, str) else value, handler(source)
        )


class _Pattern:
    """A string matching ``pattern``, with a message that says what is expected."""

    def __init__(self, pattern: str, expected: str) -> None:
        self.pattern, self.expected = pattern, expected

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        import re

        from pydantic_core import PydanticCustomError, core_schema

        def check(value: str) -> str:
            if not re.match(self.pattern, value):
                raise PydanticCustomError(
                    "bad_value",
                    "'{value}' is not {expected}",
                    {"value": value, "expected": self.expected},
                )
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))


RayAddress = Annotated[str, _Pattern(_RAY_ADDRESS, "auto, local, ray://HOST:PORT or HOST:PORT")]
Slots = Annotated[float, _Range(ge=0)]


@dataclass(slots=True)
class ExecutorConfig:
    """Where task loops run (``orchestration.executors``): ``local`` processes on the
    server's host, or ``ray`` actors placed on a Ray cluster's nodes."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _SECTION

    type: ExecutorType = "local"
    address: RayAddress = "auto"  # ray only: which cluster
    # ray only: what one loop needs of a node (custom resources the worker nodes offer).
    resources: dict[str, Slots] = field(default_factory=lambda: {"agent_slots": 1.0})
    max_retries: NonNegative = 3  # ray only: restarts of a loop whose node died
    namespace: str = "conductor-loop"  # ray only: the namespace of the loops' named actors


@dataclass(slots=True)
class Config:
    """The whole configuration. Unknown top-level sections are ignored for compatibility."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "ignore", "validate_default": True}

    agents: dict[str, AgentConfig] = field(default_factory=dict)
    defaults: DefaultsConfig = field(default_factory=DefaultsConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    executor: Annotated[ExecutorConfig, _Shorthand()] = field(default_factory=ExecutorConfig)
    source: str | None = field(default=None, compare=False)  # the file it was read from

    def agent(self, name: str | None) -> tuple[str, AgentConfig]:
        """Look up an agent by name (or the default); a bare backend type works too."""
        chosen = name or self.defaults.agent
        if not chosen:
            if len(self.agents) == 1:
                chosen = next(iter(self.agents))
            else:
                raise ConfigError(
                    "no agent given and defaults.agent is not set"
                    + (f" (configured: {', '.join(sorted(self.agents))})" if self.agents else "")
                )
        if chosen in self.agents:
            return chosen, self.agents[chosen]
        for agent_name, agent in self.agents.items():
            if agent.type == chosen:
                return agent_name, agent
        if chosen in get_args(AgentType):
            return chosen, AgentConfig(type=chosen)  # type: ignore[arg-type]
        known = ", ".join(sorted(self.agents)) or "none configured"
        raise ConfigError(f"unknown agent {chosen!r} (known: {known})")
