"""The agent protocol: what the runner needs from every backend.

Two kinds exist. A **CLI backend** describes a process (argv, env, how to read its
JSON-lines stdout into a final answer); the runner starts, watches and stops the
process. A **REST backend** runs in the runner's own process (``process_ownership:
external``): it streams tokens into ``agent-stdout.txt`` as they arrive and returns an
outcome; the runner cancels it through ``cancel``.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from conductor_loop.config.models import AgentConfig


@dataclass(slots=True)
class RunContext:
    """Everything a backend may need about the run it serves."""

    run_id: str
    project_id: str
    task_id: str
    run_dir: Path
    task_dir: Path
    cwd: Path
    prompt_path: Path
    stdout_path: Path
    stderr_path: Path
    output_path: Path
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None


@dataclass(slots=True)
class AgentResult:
    """What a backend read from its agent's output."""

    final_text: str | None = None
    model: str | None = None
    error: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


class Backend(ABC):
    """Common to both kinds: identity, token env var, configured settings."""

    type: ClassVar[str]
    kind: ClassVar[str]  # "cli" or "rest"
    token_env: ClassVar[str]

    def __init__(self, name: str, config: AgentConfig) -> None:
        self.name = name
        self.config = config

    @property
    def token_env_name(self) -> str:
        return self.config.token_env or self.token_env

    def agent_env(self, token: str | None) -> dict[str, str]:
        """Variables this agent needs on top of the runner's (token, configured env)."""
        env = dict(self.config.env)
        if token:
            env[self.token_env_name] = token
        return env

    @property
    def model(self) -> str | None:
        return self.config.model


class CliBackend(Backend):
    kind: ClassVar[str] = "cli"
    default_executable: ClassVar[str]

    @property
    def executable(self) -> str:
        return self.config.command or self.default_executable

    @abstractmethod
    def argv(self) -> list[str]:
        """Full argv; the prompt goes to stdin. Never contains a secret."""

    @abstractmethod
    def parse_stdout(self, stdout_text: str) -> AgentResult:
        """Read the agent's JSON-lines stdout into a final answer (tolerant of junk lines)."""

    def version_argv(self) -> list[str]:
        return [self.executable, "--version"]


class RestBackend(Backend):
    kind: ClassVar[str] = "rest"

    @abstractmethod
    def run(
        self, ctx: RunContext, token: str | None, cancel: threading.Event
    ) -> tuple[int, AgentResult]:
        """Stream the answer into ``ctx.stdout_path``; return (exit code, result)."""
