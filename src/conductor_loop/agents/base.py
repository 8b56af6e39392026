"""The agent protocol: what the runner needs from every backend.

Two kinds exist. A **CLI backend** describes a process (argv, env, how to read its
JSON-lines stdout into a final answer); the runner starts, watches and stops the
process. A **REST backend** runs in the runner's own process (``process_ownership:
external``): it streams tokens into ``agent-stdout.txt`` as they arrive and returns an
outcome; the runner cancels it through ``cancel``.
"""

from __future__ import annotations

import os
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
    default_env: ClassVar[dict[str, str]] = {}
    """Settings the CLI needs to run unattended; config ``env`` can override each."""

    def __init__(self, name: str, config: AgentConfig) -> None:
        self.name = name
        self.config = config

    @property
    def token_env_name(self) -> str:
        return self.config.token_env or self.token_env

    def agent_env(self, token: str | None) -> dict[str, str]:
        """Variables this agent needs on top of the runner's.

        The backend's ``default_env``, then the configured ``env`` (which may override
        it), then the token in its variable.
        """
        env = {**self.default_env, **self.config.env}
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
        """``command`` from the config (``~`` expanded) or the CLI's usual name."""
        if self.config.command:
            return os.path.expanduser(self.config.command)
        return self.default_executable

    @abstractmethod
    def argv(self) -> list[str]:
        """Full argv; the prompt goes to stdin. Never contains a secret."""

    @abstractmethod
    def parse_stdout(self, stdout_text: str) -> AgentResult:
        """Read the agent's JSON-lines stdout into a final answer (tolerant of junk lines)."""

    def parse_stdout_file(self, stdout_path: Path) -> AgentResult:
        """``parse_stdout`` of a run's ``agent-stdout.txt``; a missing file is no answer.

        Bytes that are not UTF-8 are replaced rather than failing the whole run's record.
        """
        try:
            text = stdout_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return AgentResult(model=self.model)
        return self.parse_stdout(text)

    def version_argv(self) -> list[str]:
        return [self.executable, "--version"]


class RestBackend(Backend):
    kind: ClassVar[str] = "rest"

    @abstractmethod
    def run(
        self, ctx: RunContext, token: str | None, cancel: threading.Event
    ) -> tuple[int, AgentResult]:
        """Stream the answer into ``ctx.stdout_path``; return (exit code, result)."""
