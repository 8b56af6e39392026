"""Starting ``run-agent task`` processes that outlive the server.

Each loop runs in its own session (``setsid``), with stdin from /dev/null and
stdout/stderr appended to ``runner.log`` in the task directory, so that stopping or
restarting the server neither signals the loop nor breaks its output pipes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from conductor_loop.storage.containment import opener

RUNNER_LOG = "runner.log"

# Never handed to the runner (and so to agents): the server's own API key.
_SCRUBBED_ENV = ("CONDUCTOR_API_KEY",)


def run_agent_command() -> list[str]:
    """The ``run-agent`` executable beside this interpreter, or ``python -m`` as fallback."""
    candidate = Path(sys.executable).with_name("run-agent")
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return [str(candidate)]
    return [sys.executable, "-m", "conductor_loop.cli.run_agent"]


@dataclass(slots=True)
class LaunchSpec:
    project_id: str
    task_id: str
    task_dir: Path
    root: Path
    config_path: str | None = None
    agent: str | None = None
    cwd: str | None = None
    max_restarts: int | None = None
    restart_delay: float | None = None
    timeout: float | None = None
    max_cost_usd: float | None = None
    max_tokens: int | None = None
    budget_action: str | None = None
    resume: bool = False
    adopt: bool = False  # take over a loop whose runner died (its saved settings apply)
    conductor_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def argv(self) -> list[str]:
        argv = [*run_agent_command(), "task"]
        if self.resume:
            argv.append("resume")
        argv += ["--project", self.project_id, "--task", self.task_id, "--root", str(self.root)]
        if self.config_path:
            argv += ["--config", self.config_path]
        if self.adopt:
            return [*argv, "--adopt"]
        if self.agent:
            argv += ["--agent", self.agent]
        if self.resume:
            return argv
        # No prompt: the loop runs the TASK.md the server wrote (a prepared task).
        if self.cwd:
            argv += ["--cwd", self.cwd]
        if self.max_restarts is not None:
            argv += ["--max-restarts", str(self.max_restarts)]
        if self.restart_delay is not None:
            argv += ["--restart-delay", f"{self.restart_delay:g}s"]
        if self.timeout is not None:
            argv += ["--timeout", f"{self.timeout:g}s"]
        if self.max_cost_usd is not None:
            argv += ["--max-cost", repr(float(self.max_cost_usd))]
        if self.max_tokens is not None:
            argv += ["--max-tokens", str(self.max_tokens)]
        if self.budget_action:
            argv += ["--budget-action", self.budget_action]
        return argv


def launch(spec: LaunchSpec) -> subprocess.Popen[bytes]:
    """Start the loop detached from the server; the caller reaps it with ``poll``."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    if spec.conductor_url:
        env["JRUN_CONDUCTOR_URL"] = spec.conductor_url
    env.update(spec.extra_env)
    log_path = spec.task_dir / RUNNER_LOG
    with open(log_path, "ab", opener=opener(spec.root)) as log:
        return subprocess.Popen(
            spec.argv(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(spec.task_dir),
            env=env,
            start_new_session=True,
            close_fds=True,
        )
