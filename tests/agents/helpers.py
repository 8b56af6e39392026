"""What the real-agent tests share: the three CLIs, how to run one directly against a fake
model server, and a rig that runs ``run-agent`` with a config naming the installed CLI."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import RunInfo, read_run_info
from tests.fakes import QUICK_DEFAULTS
from tests.fakes.fake_model_servers import (
    AnthropicServer,
    FakeModelServer,
    GeminiServer,
    OpenAIResponsesServer,
)

REPO = Path(__file__).resolve().parents[2]
# The environment pytest started with (the autouse fixture moves HOME for each test).
SESSION_ENV: dict[str, str] = dict(os.environ)
TOKEN = "fake-model-key-4242"
# What gemini needs to use an API key with a custom base URL (else it exits 41).
GEMINI_SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
}


@dataclass(frozen=True)
class Cli:
    """One agent CLI: its fake server and the model name it is configured with."""

    name: str
    server_class: type[FakeModelServer]
    model: str
    api_path: str = ""
    """What follows the server's address in the agent's ``base_url`` (the provider's
    usual form: OpenAI's base URLs end in ``/v1``)."""
    stall_timeout: str = "5s"
    """A run timeout that the CLI surely reaches its model within, even on a busy
    machine (gemini takes 2.5-3.5 s to start on 2 cores)."""

    def server(self, *args: Any, **kwargs: Any) -> FakeModelServer:
        return self.server_class(*args, expected_token=TOKEN, **kwargs)

    def tool_outputs(self, body: Any) -> list[str]:
        """What the CLI sent back to the model as its tool results, in a request body."""
        found: list[str] = []
        _collect_tool_outputs(body, found)
        return found


def _collect_tool_outputs(node: Any, found: list[str]) -> None:
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "tool_result" or kind == "function_call_output":  # claude, codex
            found.append(json.dumps(node.get("content", node.get("output"))))
            return
        if "functionResponse" in node:  # gemini
            found.append(json.dumps(node["functionResponse"]))
            return
        for value in node.values():
            _collect_tool_outputs(value, found)
    elif isinstance(node, list):
        for value in node:
            _collect_tool_outputs(value, found)


CLIS = {
    "claude": Cli("claude", AnthropicServer, "claude-sonnet-4-5"),
    "codex": Cli("codex", OpenAIResponsesServer, "gpt-5.5", api_path="/v1"),
    "gemini": Cli("gemini", GeminiServer, "gemini-2.5-flash", stall_timeout="10s"),
}


def direct_command(
    cli: Cli, agent_bin: Path, server: FakeModelServer, home: Path
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that run ``cli`` by hand against ``server``, as
    shared/spec/AGENT-CLIS-HERE.md found them; the prompt goes to stdin."""
    env = {
        "PATH": SESSION_ENV.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
    }
    exe = str(agent_bin / cli.name)
    if cli.name == "claude":
        argv = [exe, "-p", "--input-format", "text", "--output-format", "stream-json"]
        argv += ["--verbose", "--permission-mode", "bypassPermissions", "--model", cli.model]
        env |= {
            "ANTHROPIC_BASE_URL": server.url,
            "ANTHROPIC_API_KEY": TOKEN,
            "IS_SANDBOX": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
        }
    elif cli.name == "codex":
        provider = (
            f'model_providers.fake={{name="fake",base_url="{server.url}/v1",'
            'env_key="FAKE_OPENAI_API_KEY",wire_api="responses"}'
        )
        argv = [exe, "exec", "--dangerously-bypass-approvals-and-sandbox"]
        argv += ["--skip-git-repo-check", "--json", "-c", f'model="{cli.model}"']
        argv += ["-c", 'model_provider="fake"', "-c", provider, "-"]
        env |= {"FAKE_OPENAI_API_KEY": TOKEN, "CODEX_HOME": str(home / ".codex")}
        (home / ".codex").mkdir(parents=True, exist_ok=True)
    else:
        argv = [exe, "--approval-mode", "yolo", "--output-format", "stream-json", "-m", cli.model]
        env |= {
            "GEMINI_API_KEY": TOKEN,
            "GOOGLE_GEMINI_BASE_URL": server.url,
            "GEMINI_CLI_TRUST_WORKSPACE": "true",
        }
        settings = home / ".gemini" / "settings.json"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps(GEMINI_SETTINGS), encoding="utf-8")
    return argv, env


@dataclass
class AgentRig:
    """A runs root, a throw-away HOME and a config for one real CLI, and ``run-agent``."""

    tmp: Path
    agent_bin: Path
    run_agent_exe: Path
    root: RunsRoot
    home: Path
    config_path: Path
    token_file: Path

    @classmethod
    def create(cls, tmp: Path, agent_bin: Path, run_agent_exe: Path) -> AgentRig:
        root = tmp / "runs"
        home = tmp / "home"
        for folder in (root, home):
            folder.mkdir(mode=0o700)
        token_file = tmp / "token"
        token_file.write_text(TOKEN + "\n", encoding="utf-8")
        token_file.chmod(0o600)
        return cls(
            tmp, agent_bin, run_agent_exe, RunsRoot.at(root), home, tmp / "config.yaml", token_file
        )

    def write_config(
        self, cli: Cli, server: FakeModelServer, env: dict[str, str] | None = None
    ) -> None:
        """The minimal config for ``cli``: type, token file, base URL and model (plus the
        installed binary as ``command``), and quick loop timings; ``env`` when given."""
        lines = [
            "agents:",
            f"  {cli.name}:",
            f"    type: {cli.name}",
            f"    command: {self.agent_bin / cli.name}",
            f"    token_file: {self.token_file}",
            f"    base_url: {server.url}{cli.api_path}",
            f"    model: {cli.model}",
        ]
        if env:
            lines.append("    env:")
            lines += [f"      {name}: {json.dumps(value)}" for name, value in env.items()]
        lines.append("defaults:")
        defaults = QUICK_DEFAULTS | {"agent": cli.name}
        lines += [f"  {key}: {value}" for key, value in defaults.items()]
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def env(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in SESSION_ENV.items()
            if not name.startswith(("JRUN_", "CONDUCTOR_", "XDG_"))
        }
        return env | {
            "CONDUCTOR_CONFIG": str(self.config_path),
            "CONDUCTOR_ROOT": str(self.root.path),
            "HOME": str(self.home),
        }

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.run_agent_exe), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def runs(self, project: str, task: str) -> list[RunInfo]:
        return [
            read_run_info(self.root.run_dir(project, task, run_id))
            for run_id in self.root.run_ids(project, task)
        ]


def describe(done: subprocess.CompletedProcess[str], runs: list[RunInfo]) -> str:
    """What to show when an assertion about a run fails: the command's output and each
    run's record, stdout and stderr tails."""
    parts = [
        f"exit {done.returncode}",
        f"stdout: {done.stdout[-2000:]}",
        f"stderr: {done.stderr[-2000:]}",
    ]
    for info in runs:
        parts.append(f"run {info.run_id}: {info.to_dict()}")
        for path in (info.stdout_path, info.stderr_path):
            if path and Path(path).exists():
                parts.append(f"{path}:\n{Path(path).read_text(errors='replace')[-3000:]}")
    return "\n".join(parts)
