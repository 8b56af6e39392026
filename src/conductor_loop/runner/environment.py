"""The environment an agent process gets (spec §6): the caller's, the agent's own
settings, then the runner-owned ``JRUN_*`` values, which nothing can override."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


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


def build_agent_env(
    *,
    base: dict[str, str],
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
) -> dict[str, str]:
    env = dict(base)
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
        # child `run-agent` calls must land in the same runs root and config
        "CONDUCTOR_ROOT": str(runs_root),
    }
    for key in [k for k in env if k.startswith("JRUN_")]:
        del env[key]
    env.update(owned)
    if config_path:
        env["CONDUCTOR_CONFIG"] = config_path
    if conductor_url:
        env["JRUN_CONDUCTOR_URL"] = conductor_url
    env["PATH"] = prepend_path_once(env.get("PATH", os.defpath), run_agent_bin_dir())
    return env
