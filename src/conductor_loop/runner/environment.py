"""The environment an agent process gets (spec §6, issue 10 M2): an allow-list.

From the runner's environment only the system basics below and the variables the agent's
backend names (its token variable, where its CLI keeps its login); then the agent's own
settings; then the runner-owned ``JRUN_*`` values, which nothing can override. Anything
else in the server's environment (other agents' keys, cloud credentials, …) stays out.
``CONDUCTOR_CONFIG`` names a copy of the config without secrets (``config.agent_view``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from conductor_loop.config.agent_view import agent_view_text
from conductor_loop.config.models import Config
from conductor_loop.errors import ConductorError
from conductor_loop.storage.state import STATE_DIR_ENV, keep_private_file, resolve_state_dir

AGENT_CONFIGS_DIR = "agent-configs"

# The basics a CLI needs to run as the user, passed on when the runner has them.
SYSTEM_ENV = frozenset(
    {
        # finding executables; the run-agent directory is put first
        "PATH",
        # who the agent runs as: CLIs keep their login and settings under HOME
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        # text encoding, messages and times the way the user has them
        "LANG",
        "LANGUAGE",
        "TZ",
        "TERM",
        "TMPDIR",
        # per-user config, cache, data and state directories, when moved from HOME
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        # reaching the model's API from behind a proxy (a proxy URL may carry the proxy's
        # own credential: without it the agent cannot work at all there)
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        # trusting a TLS-inspecting proxy's CA (OpenSSL, Python requests, curl, Node)
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        # a child `run-agent` must import the same code as this runner (a source checkout)
        "PYTHONPATH",
        # child runs record the same instance as this runner (replicas, runner.identity)
        "CONDUCTOR_INSTANCE_ID",
    }
)
SYSTEM_ENV_PREFIXES = ("LC_",)  # locale categories (LC_ALL, LC_CTYPE, …)


def run_agent_bin_dir() -> str:
    """Directory holding the ``run-agent`` executable agents should call."""
    beside_python = Path(sys.executable).parent / "run-agent"
    if beside_python.exists():
        return str(beside_python.parent)
    found = shutil.which("run-agent")
    return str(Path(found).parent) if found else str(beside_python.parent)


def prepend_path_once(path_value: str, directory: str) -> str:
    parts = [p for p in path_value.split(os.pathsep) if p and p != directory]
    return os.pathsep.join([directory, *parts])


def allowed_env(base: Mapping[str, str], inherited: Iterable[str] = ()) -> dict[str, str]:
    """The part of ``base`` an agent may see: ``SYSTEM_ENV``, ``LC_*`` and ``inherited``."""
    wanted = SYSTEM_ENV | set(inherited)
    return {k: v for k, v in base.items() if k in wanted or k.startswith(SYSTEM_ENV_PREFIXES)}


def build_agent_env(
    *,
    base: Mapping[str, str],
    agent_env: dict[str, str],
    project_id: str,
    task_id: str,
    run_id: str,
    parent_run_id: str,
    runs_root: Path,
    task_dir: Path,
    run_dir: Path,
    task_bus: Path,
    config_path: str | None,
    conductor_url: str | None,
    inherited: Iterable[str] = (),
    state_dir: str | None = None,
    launcher_dir: str | None = None,
) -> dict[str, str]:
    """``base`` (the runner's environment) through the allow-list, then ``agent_env``,
    then the runner-owned values. ``inherited``: extra names the backend takes from
    ``base`` (``Backend.inherited_env``). ``launcher_dir``: where the agents' quicker
    ``run-agent`` is (``runner.agent_launcher``), put before the console scripts."""
    env = allowed_env(base, inherited)
    env.update(agent_env)
    owned = {
        "JRUN_PROJECT_ID": project_id,
        "JRUN_TASK_ID": task_id,
        "JRUN_ID": run_id,
        "JRUN_PARENT_ID": parent_run_id,
        "JRUN_RUNS_DIR": str(runs_root),
        "JRUN_MESSAGE_BUS": str(task_bus),
        "JRUN_TASK_FOLDER": str(task_dir),
        "JRUN_RUN_FOLDER": str(run_dir),
        # child `run-agent` calls must land in the same runs root, config and state dir
        "CONDUCTOR_ROOT": str(runs_root),
    }
    for key in [k for k in env if k.startswith("JRUN_")]:
        del env[key]
    env.update(owned)
    if config_path:
        env["CONDUCTOR_CONFIG"] = config_path
    if state_dir:
        env[STATE_DIR_ENV] = state_dir
    if conductor_url:
        env["JRUN_CONDUCTOR_URL"] = conductor_url
    path = prepend_path_once(env.get("PATH", os.defpath), run_agent_bin_dir())
    env["PATH"] = prepend_path_once(path, launcher_dir) if launcher_dir else path
    return env


@dataclass(frozen=True, slots=True)
class AgentConfigCopy:
    """Where the config copy agents see lives, and the state directory holding it."""

    path: Path
    state_dir: Path


def write_agent_config(config: Config) -> AgentConfigCopy:
    """The config copy agents see, 0600 in ``<state dir>/agent-configs/<sha256>.yaml``.

    Named by its content, so every run of the same config shares one file, written
    (atomically) only when it is missing or differs.
    """
    state_dir = resolve_state_dir(config.storage.state_dir)
    text = agent_view_text(config)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    path = state_dir / AGENT_CONFIGS_DIR / f"{digest}.yaml"
    try:
        keep_private_file(path, text)
    except OSError as exc:
        raise ConductorError(
            f"cannot write the agents' config copy {str(path)!r}: {exc.strerror or exc}"
        ) from None
    return AgentConfigCopy(path, state_dir)
