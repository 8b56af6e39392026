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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from conductor_loop.config.models import AgentConfig, Pricing
from conductor_loop.storage.usage import Usage


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
    """What a backend read from its agent's output.

    Token figures are None when the agent did not report them. ``input_tokens`` counts
    all input the model was given, including ``cached_input_tokens`` (the part read
    from a prompt cache); ``cost_usd`` is the agent's own figure, when it has one.
    """

    final_text: str | None = None
    model: str | None = None
    error: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    cached_input_tokens: int | None = None

    def usage(self, pricing: Pricing | None = None) -> Usage | None:
        """The run's usage for its record; None when no figure is known.

        The cost is the agent's own figure, else the configured ``pricing`` applied to
        the token counts (when both input and output counts are known).
        """
        cost = self.cost_usd
        if cost is None and pricing is not None:
            cost = pricing.cost_usd(self.input_tokens, self.output_tokens, self.cached_input_tokens)
        usage = Usage.of(self.input_tokens, self.output_tokens, self.cached_input_tokens, cost)
        return usage if usage.known else None


class Backend(ABC):
    """Common to both kinds: identity, token env var, configured settings."""

    type: ClassVar[str]
    kind: ClassVar[str]  # "cli" or "rest"
    token_env: ClassVar[str]
    default_env: ClassVar[dict[str, str]] = {}
    """Settings the CLI needs to run unattended; config ``env`` can override each."""
    home_env: ClassVar[tuple[str, ...]] = ()
    """Variables naming where the CLI keeps its login and settings (``CODEX_HOME`` …)."""

    def __init__(self, name: str, config: AgentConfig) -> None:
        self.name = name
        self.config = config

    @property
    def token_env_name(self) -> str:
        return self.config.token_env or self.token_env

    def settings_env(self) -> dict[str, str]:
        """Variables that carry the agent's settings (``base_url`` …) to its CLI."""
        return {}

    def required_env(self) -> dict[str, str]:
        """Variables without which the CLI refuses to run here; nothing overrides them."""
        return {}

    def agent_env(self, token: str | None) -> dict[str, str]:
        """Variables this agent needs on top of the runner's.

        The backend's ``default_env`` and ``settings_env``, then the configured ``env``
        (which may override both), then ``required_env``, then the token in its variable.
        """
        env = {**self.default_env, **self.settings_env(), **self.config.env}
        env.update(self.required_env())
        if token:
            env[self.token_env_name] = token
        return env

    def inherited_env(self) -> list[str]:
        """Variables this agent takes from the runner's environment, when set there.

        Its token variable (a token exported for it, or the one its parent run had),
        where its CLI keeps its login, and the ``env`` entries the config copy agents
        see left out (a child run of the same agent has them from its parent).
        """
        withheld = [item[4:] for item in self.config.withheld if item.startswith("env.")]
        return [self.token_env_name, *self.home_env, *withheld]

    def withheld_problem(self, token: str | None, environ: Mapping[str, str]) -> str | None:
        """Why this agent cannot run from a config copy that left its secrets out, if so.

        Inside an agent's run only the agent's own secrets are in the environment: a
        child run of another agent needs that agent's token from a ``token_file``.
        """
        for item in self.config.withheld:
            if item == "token":
                if token or environ.get(self.token_env_name):
                    continue
                return (
                    f"agent {self.name} has an inline token that is not passed to agents; "
                    "use token_file"
                )
            name = item.removeprefix("env.")
            if not environ.get(name):
                return (
                    f"agent {self.name}: env.{name} looks like a secret and is not passed "
                    "to agents, so other agents cannot start runs of it; start them from "
                    "outside an agent's run"
                )
        return None

    @property
    def model(self) -> str | None:
        return self.config.model


class CliBackend(Backend):
    kind: ClassVar[str] = "cli"
    default_executable: ClassVar[str]
    login_hint: ClassVar[str] = ""
    """How a user logs in with the CLI's own account (for a config without a token)."""
    home_var: ClassVar[str | None] = None
    """The variable that points the CLI at a private per-run home (see ``home_files``)."""
    base_url_needs_token: ClassVar[bool] = False
    """Whether the CLI can reach a ``base_url`` only with an API key (not its own login)."""

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

    def base_url_problem(self, url: str) -> str | None:
        """Why this CLI would refuse ``url`` (an http(s) URL), if it would."""
        return None

    def home_files(self, env: Mapping[str, str]) -> dict[str, str]:
        """Files (path relative to a private home → text) a run with ``env`` needs.

        No files (the default) means the CLI runs with the user's own home. Otherwise the
        runner writes them into a fresh owner-only directory, points ``home_var`` at it
        for this run only, and removes it afterwards.
        """
        return {}


class RestBackend(Backend):
    kind: ClassVar[str] = "rest"

    @abstractmethod
    def run(
        self, ctx: RunContext, token: str | None, cancel: threading.Event
    ) -> tuple[int, AgentResult]:
        """Stream the answer into ``ctx.stdout_path``; return (exit code, result)."""
