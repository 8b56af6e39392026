"""Helpers for API tests: a real ``conductor`` server process on a free loopback port.

``start_server(root, config_path)`` runs the installed console script with ``--port 0``
and reads the bound port from its start-up line.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from conductor_loop.client import ConductorClient
from conductor_loop.client.models import TaskDetail
from conductor_loop.storage.ids import new_run_id
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import RunInfo, iso_utc, write_run_info
from tests.support import wait_until

VENV_BIN = Path(sys.executable).parent
_LISTENING = re.compile(r"listening on http://([\d.]+):(\d+)")

API_KEY = "key-SECRET-7731-never-shown"
AGENT_TOKEN = "tok-SECRET-5150-never-shown"


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDUCTOR_", "JRUN_"))}
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    root: RunsRoot
    config_path: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    url: str = ""
    _clients: list[httpx.Client | ConductorClient] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", 30.0)
        # As the UI and `conductor` do: the server refuses state-changing requests that do
        # not say JSON (what a cross-site form cannot send). Tests of that pass their own.
        kwargs.setdefault("headers", {"Content-Type": "application/json"})
        client = httpx.Client(base_url=self.url, **kwargs)
        self._clients.append(client)
        return client

    def api(self, api_key: str | None = None, **kwargs: Any) -> ConductorClient:
        """The typed client (``conductor_loop.client``) of this server, for tests that use
        the API rather than test it. No key unless given: not even the user's own."""
        kwargs.setdefault("local_key", False)
        client = ConductorClient(self.url, api_key, **kwargs)
        self._clients.append(client)
        return client

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 10.0) -> int:
        for client in self._clients:
            client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def start_server(
    root: RunsRoot,
    config_path: Path,
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 20.0,
    host: str | None = "127.0.0.1",
    args: tuple[str, ...] = (),
    preexec_fn: Callable[[], None] | None = None,
) -> ServerProcess:
    """``host=None`` leaves the bind to the config (default: loopback)."""
    log = open(log_path, "ab")  # noqa: SIM115 - the server process owns it
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "conductor"),
            *(("--host", host) if host else ()),
            "--port",
            "0",
            "--root",
            str(root.path),
            "--config",
            str(config_path),
            # One process unless the test asks for workers: a test can then find the
            # server's own state (its children, its metrics) behind any connection.
            *(() if "--workers" in args else ("--workers", "1")),
            *args,
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env or server_env(),
        start_new_session=True,
        preexec_fn=preexec_fn,
    )
    log.close()
    server = ServerProcess(root, config_path, log_path, proc)
    deadline = time.monotonic() + timeout
    while not server.url:
        match = _LISTENING.search(server.log_text())
        if match:
            bound = match.group(1)
            server.url = f"http://{'127.0.0.1' if bound == '0.0.0.0' else bound}:{match.group(2)}"
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"server did not start:\n{server.log_text()}")
        time.sleep(0.02)
    return server


def wait_indexed(server: ServerProcess, timeout: float = 30) -> None:
    """Until the server's app is built and its start-up index complete: ``start_server``
    returns once it listens, and health answers before either."""

    client = server.client()

    def indexed() -> bool:
        response = client.get("/api/v1/status")
        return response.status_code == 200 and response.json()["partial"] is False

    wait_until(indexed, timeout, "the server's index to be complete")


def write_config(path: Path, text: str = "") -> Path:
    path.write_text(text or "{}\n", encoding="utf-8")
    return path


def seed_run(
    root: RunsRoot,
    project_id: str,
    task_id: str,
    *,
    status: str = "completed",
    stdout: str = "",
    run_id: str | None = None,
    **fields: Any,
) -> Path:
    """Write a run directory as the runner would (run-info + stdout)."""
    root.ensure_task_dir(project_id, task_id)
    task_file = root.task_dir(project_id, task_id) / "TASK.md"
    if not task_file.exists():
        task_file.write_text("seeded task\n", encoding="utf-8")
    run_id = run_id or new_run_id()
    run_dir = root.create_run_dir(project_id, task_id, run_id)
    (run_dir / "agent-stdout.txt").write_text(stdout, encoding="utf-8")
    running = status == "running"
    values: dict[str, Any] = {
        "agent": "claude",
        "start_time": iso_utc(),
        "end_time": "" if running else iso_utc(),
        "exit_code": -1 if running else 0,
        "pid": os.getpid() if running else 0,
        "runner_pid": os.getpid() if running else 0,
    }
    values.update(fields)
    info = RunInfo(run_id=run_id, project_id=project_id, task_id=task_id, status=status, **values)
    write_run_info(run_dir, info, fsync=False)
    return run_dir


ServerFactory = Callable[..., ServerProcess]


def wait_task(
    api: ConductorClient, project: str, task: str, status: str, timeout: float = 30
) -> TaskDetail:
    """Poll the task until it has ``status``; returns it as then shown."""

    def reached() -> TaskDetail | None:
        view = api.task(task, project)
        return view if view.status == status else None

    return wait_until(reached, timeout, f"task {project}/{task} to be {status}", interval=0.05)
