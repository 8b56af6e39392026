"""Fixtures for orchestration tests: an ``Orchestrator`` over a tmp runs root and the
fake agents, called as plain functions — no server. Its loops are real ``run-agent
task`` processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conductor_loop.config.loader import load_config
from conductor_loop.orchestration.index import Index, TaskEntry
from conductor_loop.orchestration.orchestrator import Orchestrator, loop_active
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import RunInfo, read_run_info
from tests.conftest import VENV_BIN
from tests.fakes import fake_agents_config_text, install_fake_agents
from tests.support import wait_until


@dataclass
class Rig:
    root: RunsRoot
    config_path: Path
    bin_dir: Path
    tmp: Path
    made: list[Orchestrator]

    def orchestrator(self, **defaults: object) -> Orchestrator:
        """A new orchestrator (a "server") with its own index over the shared root."""
        if defaults or not self.config_path.exists():
            self.config_path.write_text(
                fake_agents_config_text(self.bin_dir, **defaults), encoding="utf-8"
            )
        config = load_config(str(self.config_path), use_cache=False)
        index = Index(self.root, loop_probe=loop_active)
        index.build()
        orch = Orchestrator(
            self.root, config, index, config_path=str(self.config_path), first_run_timeout=20
        )
        self.made.append(orch)
        return orch

    def task(self, orch: Orchestrator, task_id: str, project_id: str = "p") -> TaskEntry:
        orch.index.apply_rescan()
        entry = orch.index.task(project_id, task_id)
        assert entry is not None, f"{project_id}/{task_id} is not in the index"
        return entry

    def runs(self, task_id: str, project_id: str = "p") -> list[RunInfo]:
        """The task's run records, oldest first."""
        return [
            read_run_info(self.root.run_dir(project_id, task_id, run_id))
            for run_id in self.root.run_ids(project_id, task_id)
        ]

    def status(self, orch: Orchestrator, task_id: str) -> str:
        """The task's status after a sweep, as the server's periodic sweep would see it."""
        orch.index.apply_rescan()
        orch.sweep()
        return orch.index.task_status(self.task(orch, task_id))

    def run_agent(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The ``run-agent`` CLI on the same runs root and config."""
        return self.run_agent_env({}, *args)

    def run_agent_env(self, extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        """``run_agent`` with ``extra`` environment variables."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JRUN_", "CONDUCTOR_"))}
        return subprocess.run(
            [str(VENV_BIN / "run-agent"), *args],
            env=dict(
                env,
                CONDUCTOR_ROOT=str(self.root.path),
                CONDUCTOR_CONFIG=str(self.config_path),
                **extra,
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def wait_status(
        self, orch: Orchestrator, task_id: str, status: str, timeout: float = 30
    ) -> None:
        wait_until(
            lambda: self.status(orch, task_id) == status, timeout, f"{task_id} {status}", 0.1
        )


@pytest.fixture
def rig(tmp_path: Path, runs_root: RunsRoot) -> Iterator[Rig]:
    bin_dir = install_fake_agents(tmp_path / "bin")
    rig = Rig(runs_root, tmp_path / "config.yaml", bin_dir, tmp_path, [])
    yield rig
    for orch in rig.made:
        for proc in orch._procs.values():
            _end(proc)


def _end(proc: object) -> None:
    """End a loop the test left running, with its agents (its own process group). Ray's
    loops (no local process) end with the test's Ray."""
    if isinstance(proc, subprocess.Popen) and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
