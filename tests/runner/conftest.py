"""Fixtures for runner tests: a runs root, fake agent CLIs on disk, a config pointing at
them, and a way to run the real ``run-agent`` console script against both."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from conductor_loop.bus.reader import read_all
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import RunInfo, read_run_info
from tests.fakes import fake_agents_config_text, install_fake_agents

TOKEN = "tok-SECRET-4242-do-not-leak"


@dataclass
class RunnerEnv:
    root: RunsRoot
    config_path: Path
    bin_dir: Path
    run_agent_exe: Path
    tmp: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JRUN_", "CONDUCTOR_"))}
        env["CONDUCTOR_CONFIG"] = str(self.config_path)
        env["CONDUCTOR_ROOT"] = str(self.root.path)
        env.update(extra)
        return env

    def run(
        self, *args: str, timeout: float = 60, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.run_agent_exe), *args],
            env=self.env(**extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def start(self, *args: str, **extra_env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.run_agent_exe), *args],
            env=self.env(**extra_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    def runs(self, project: str, task: str) -> list[RunInfo]:
        return [
            read_run_info(self.root.run_dir(project, task, r))
            for r in self.root.run_ids(project, task)
        ]

    def task_bus_types(self, project: str, task: str) -> list[str]:
        return [m.type for m in read_all(self.root.task_bus(project, task))]


def write_config(path: Path, bin_dir: Path, **defaults: object) -> None:
    """The installed fakes, each with ``TOKEN``, and quick loop timings."""
    path.write_text(fake_agents_config_text(bin_dir, token=TOKEN, **defaults), encoding="utf-8")


@pytest.fixture
def rig(tmp_path: Path, runs_root: RunsRoot, run_agent_exe: Path) -> RunnerEnv:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    install_fake_agents(bin_dir)
    config_path = tmp_path / "config.yaml"
    write_config(config_path, bin_dir)
    return RunnerEnv(runs_root, config_path, bin_dir, run_agent_exe, tmp_path)


def agent_pid(run_dir: Path) -> int:
    """The agent pid recorded in run-info, 0 while the run is still being set up."""
    try:
        return read_run_info(run_dir).pid
    except FileNotFoundError:
        return 0
