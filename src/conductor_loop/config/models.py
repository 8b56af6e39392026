"""Configuration models (spec §7). Secrets are SecretStr so no repr or log shows them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr

from conductor_loop.durations import parse_duration
from conductor_loop.errors import ConfigError

AgentType = Literal["claude", "codex", "gemini", "perplexity", "xai"]


def _seconds(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
    return value


Seconds = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class AgentConfig(_Section):
    """One configured agent: which backend, how to reach it, which secret it uses."""

    type: AgentType
    token: SecretStr | None = None
    token_file: str | None = None
    token_env: str | None = Field(
        default=None, description="override the env var the token is passed in"
    )
    command: str | None = Field(
        default=None, description="executable to run instead of the default"
    )
    args: list[str] = Field(default_factory=list, description="extra command-line arguments")
    model: str | None = None
    base_url: str | None = None
    timeout: Seconds | None = None
    env: dict[str, str] = Field(default_factory=dict)

    def resolve_token(self) -> str | None:
        """The token from ``token`` or ``token_file`` (``~`` expanded, stripped)."""
        if self.token is not None:
            return self.token.get_secret_value().strip() or None
        if self.token_file:
            path = Path(self.token_file).expanduser()
            try:
                return path.read_text(encoding="utf-8").strip() or None
            except OSError as exc:
                raise ConfigError(
                    f"cannot read token_file {str(path)!r}: {exc.strerror or exc}"
                ) from None
        return None


class DefaultsConfig(_Section):
    agent: str | None = None
    timeout: Seconds = 300
    max_restarts: int = Field(default=100, ge=0)
    restart_delay: Seconds = 1
    child_wait_timeout: Seconds = 300
    child_poll_interval: Seconds = 1
    stop_grace_period: Seconds = 30
    max_concurrent_runs: int = Field(default=0, ge=0)
    max_concurrent_root_tasks: int = Field(default=0, ge=0)
    heartbeat_interval: Seconds = 5
    heartbeat_timeout: Seconds = 30


class ApiConfig(_Section):
    host: str = "0.0.0.0"
    port: int = Field(default=14355, ge=0, le=65535)
    cors_origins: list[str] = Field(default_factory=list)
    api_key: SecretStr | None = None
    api_key_file: str | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    public_url: str | None = None

    def resolve_api_key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value().strip() or None
        if self.api_key_file:
            path = Path(self.api_key_file).expanduser()
            try:
                return path.read_text(encoding="utf-8").strip() or None
            except OSError as exc:
                raise ConfigError(
                    f"cannot read api.api_key_file {str(path)!r}: {exc.strerror or exc}"
                ) from None
        return None


class StorageConfig(_Section):
    runs_dir: str | None = None
    bus_fsync: bool = False
    bus_rotate_bytes: int = Field(default=0, ge=0, description="0 = never rotate")


class Config(BaseModel):
    """The whole configuration. Unknown top-level sections are ignored for compatibility."""

    model_config = ConfigDict(extra="ignore", validate_default=True)

    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    source: str | None = Field(default=None, exclude=True, description="file it was read from")

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
            return chosen, AgentConfig.model_validate({"type": chosen})
        known = ", ".join(sorted(self.agents)) or "none configured"
        raise ConfigError(f"unknown agent {chosen!r} (known: {known})")
