"""Helpers for the container tests: the docker and compose CLIs, and one Compose stack.

Everything here drives the real ``docker`` CLI with ``subprocess``; nothing talks to
the engine's API directly, so what the tests do is what a user types.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from conductor_loop.runner.task_loop import LOOP_STATE_FILE
from conductor_loop.storage.runinfo import RunInfoError, read_run_info
from tests import support

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
REPLICAS_FILE = REPO / "docker-compose.replicas.yml"
ARTIFACTS = REPO / "test-artifacts" / "docker"
SERVER_UID = 10001
# The first line of a prompt whose loop a test waits for: iteration 1 marks its start.
ITERATION_1_MARKER = "iteration-1-started"
MARK_ITERATION_1 = f'FAKE@1: run touch "$JRUN_TASK_FOLDER/{ITERATION_1_MARKER}"\n'

# Taken once at import: the repository's autouse fixture strips CONDUCTOR_* variables
# and moves HOME for every test, but the docker CLI (plugins, config) and the build
# arguments chosen by scripts/docker-env.sh need the environment the session started in.
SESSION_ENV: dict[str, str] = dict(os.environ)

T = TypeVar("T")


class DockerError(AssertionError):
    """A docker/compose command failed; carries the command and its output."""


def run(
    cmd: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with the session's environment (plus ``env``), capturing output."""
    full_env = {**SESSION_ENV, **(env or {})}
    try:
        done = subprocess.run(
            list(cmd),
            env=full_env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DockerError(f"timed out after {timeout:g}s: {' '.join(cmd)}") from exc
    if check and done.returncode != 0:
        raise DockerError(
            f"exit {done.returncode}: {' '.join(cmd)}\n"
            f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
        )
    return done


def docker(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return run(["docker", *args], **kwargs)


def find_compose() -> list[str] | None:
    """``docker compose`` (v2) first, then ``docker-compose`` (v1); None when neither works.

    ``CONDUCTOR_COMPOSE`` (e.g. ``docker-compose``) picks one, to test with the other.
    """
    chosen = SESSION_ENV.get("CONDUCTOR_COMPOSE", "").split()
    candidates = [chosen] if chosen else [["docker", "compose"], ["docker-compose"]]
    for cmd in candidates:
        if shutil.which(cmd[0]) is None:
            continue
        if run([*cmd, "version"], check=False, timeout=30).returncode == 0:
            return cmd
    return None


def wait_until(
    check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.25
) -> T:
    """``tests.support.wait_until`` polling four times a second: containers change slowly."""
    return support.wait_until(check, timeout, what, interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_image() -> str:
    """The Python base the image is built on (for 'size added over the base')."""
    return SESSION_ENV.get("CONDUCTOR_PYTHON_IMAGE") or "python:3.12-slim"


def image_size(tag: str) -> int:
    return int(docker("image", "inspect", "-f", "{{.Size}}", tag).stdout.strip())


def inspect(obj: str) -> dict[str, Any]:
    data = json.loads(docker("inspect", obj).stdout)
    assert isinstance(data, list) and data, f"docker inspect {obj}: nothing"
    result: dict[str, Any] = data[0]
    return result


SESSION_FIGURES: dict[str, float | str] = {}


def record_figure(name: str, value: float | str) -> None:
    """Keep a measured figure: shown in the test summary and written to
    test-artifacts/docker/figures.json (one file per session)."""
    SESSION_FIGURES[name] = round(value, 2) if isinstance(value, float) else value
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "figures.json").write_text(
        json.dumps(SESSION_FIGURES, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


def remove_tree(path: Path, image: str) -> None:
    """Delete a temp dir that containers (uid 10001) wrote into, also when not root."""
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        docker(
            "run", "--rm", "--user", "0", "--entrypoint", "rm", "-v", f"{path}:/cleanup",
            image, "-rf", "/cleanup/",
            check=False,
        )  # fmt: skip
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Stack:
    """One isolated Compose project: own name, host port, data dir, config and secrets."""

    compose_cmd: list[str]
    image: str
    project: str
    port: int
    workdir: Path
    token: str
    cleanups: list[Callable[[], object]] = field(default_factory=list)
    # docker-compose.yml, plus overrides (docker-compose.replicas.yml) when a test adds them.
    compose_files: list[Path] = field(default_factory=lambda: [COMPOSE_FILE])
    extra_env: dict[str, str] = field(default_factory=dict)
    _client: httpx.Client | None = None
    _api_key: str | None = None

    @property
    def data_dir(self) -> Path:
        return self.workdir / "runs"

    @property
    def config_path(self) -> Path:
        return self.workdir / "config.yaml"

    @property
    def secrets_dir(self) -> Path:
        return self.workdir / "secrets"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "CONDUCTOR_IMAGE": self.image,
            "CONDUCTOR_HOST_PORT": str(self.port),
            "CONDUCTOR_DATA_DIR": str(self.data_dir),
            "CONDUCTOR_CONFIG_PATH": str(self.config_path),
            "CONDUCTOR_SECRETS_DIR": str(self.secrets_dir),
            "CONDUCTOR_HEALTH_INTERVAL": "1s",
            "COMPOSE_BAKE": "false",
            **self.extra_env,
        }

    # --- compose ---------------------------------------------------------------------

    def compose(self, *args: str, check: bool = True, timeout: float = 180) -> str:
        files = [arg for path in self.compose_files for arg in ("-f", str(path))]
        cmd = [*self.compose_cmd, *files, "-p", self.project, *args]
        return run(cmd, check=check, timeout=timeout, env=self.env).stdout

    def up(self) -> None:
        self.compose("up", "-d", "--no-build")

    def down(self) -> None:
        self.compose("down", "--timeout", "20")

    def container_id(self, service: str = "conductor") -> str:
        ids = self.compose("ps", "-q", service).split()
        assert len(ids) == 1, f"expected one {service} container, got {ids!r}"
        return ids[0]

    def project_containers(self) -> list[str]:
        out = docker(
            "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={self.project}"
        ).stdout
        return out.split()

    def health(self, container: str) -> tuple[str, str, int]:
        """(health status, container state, restart count) of a container."""
        fmt = (
            "{{if .State.Health}}{{.State.Health.Status}}{{end}}"
            "|{{.State.Status}}|{{.RestartCount}}"
        )
        health, state, restarts = docker("inspect", "-f", fmt, container).stdout.strip().split("|")
        return health, state, int(restarts)

    def wait_healthy(self, timeout: float = 90) -> float:
        """Wait until the conductor container reports healthy; returns seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        last: tuple[str, str, int] = ("", "", 0)
        while time.monotonic() < deadline:
            try:
                last = self.health(self.container_id())
            except (DockerError, AssertionError):
                time.sleep(0.25)
                continue
            if last[0] == "healthy":
                return time.monotonic() - started
            time.sleep(0.25)
        raise AssertionError(
            f"conductor did not turn healthy within {timeout:g}s "
            f"(health={last[0]!r}, state={last[1]!r}, restarts={last[2]}); "
            f"logs:\n{self.logs()[-6000:]}"
        )

    def logs(self) -> str:
        try:
            container = self.container_id()
        except (DockerError, AssertionError):
            return self.compose("logs", "--no-color", check=False)
        done = docker("logs", container, check=False)
        return done.stdout + done.stderr

    def exec(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return docker("exec", self.container_id(), *cmd, check=check)

    # --- HTTP ------------------------------------------------------------------------

    @property
    def api_key(self) -> str:
        """The key the server generated at its first start, as a user gets it."""
        if self._api_key is None:
            out = self.compose("exec", "-T", "conductor", "conductor", "key", "--raw")
            self._api_key = out.strip()
            assert len(self._api_key) >= 32, f"conductor key --raw printed {out!r}"
        return self._api_key

    def client(self, **kwargs: Any) -> httpx.Client:
        """A client that sends the key, and says JSON as the UI and `conductor` do."""
        kwargs.setdefault("timeout", 15)
        headers = {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}
        return httpx.Client(base_url=self.base_url, headers=headers, **kwargs)

    @property
    def http(self) -> httpx.Client:
        if self._client is None:
            self._client = self.client()
        return self._client

    def create_task(self, project_id: str, task_id: str, prompt: str) -> dict[str, Any]:
        """``POST /api/v1/tasks`` with the stand-in claude; returns the 201 body."""
        response = self.http.post(
            "/api/v1/tasks",
            json={
                "project_id": project_id,
                "task_id": task_id,
                "agent_type": "claude",
                "prompt": prompt,
            },
        )
        assert response.status_code == 201, (
            f"POST /api/v1/tasks: {response.status_code} {response.text}"
        )
        body: dict[str, Any] = response.json()
        assert body["project_id"] == project_id and body["task_id"] == task_id, body
        return body

    def run_info(self, run_id: str) -> dict[str, Any] | None:
        response = self.http.get(f"/api/v1/runs/{run_id}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, (
            f"GET run {run_id}: {response.status_code} {response.text}"
        )
        body: dict[str, Any] = response.json()
        return body

    def messages(self, project_id: str, task_id: str | None = None) -> list[dict[str, Any]]:
        params = {"project_id": project_id}
        if task_id:
            params["task_id"] = task_id
        response = self.http.get("/api/v1/messages", params=params)
        assert response.status_code == 200, f"GET messages: {response.status_code} {response.text}"
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    # --- files on the host, through the bind mount -------------------------------------

    def task_dir(self, project_id: str, task_id: str) -> Path:
        return self.data_dir / project_id / task_id

    def run_dirs(self, project_id: str, task_id: str) -> list[Path]:
        runs = self.task_dir(project_id, task_id) / "runs"
        return sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []

    def recorded_run(self, project_id: str, task_id: str, run_id: str) -> dict[str, Any] | None:
        """The run's run-info.yaml as recorded on the host, read by our reader (times stay
        strings); None while it is missing or half-written."""
        try:
            info = read_run_info(self.task_dir(project_id, task_id) / "runs" / run_id)
        except (FileNotFoundError, RunInfoError):
            return None
        return info.to_dict()

    def root_runs(self, project_id: str, task_id: str) -> list[dict[str, Any]]:
        """The task's root runs (no parent run) as recorded on the host, oldest first."""
        infos = [
            info
            for run_dir in self.run_dirs(project_id, task_id)
            if (info := self.recorded_run(project_id, task_id, run_dir.name)) is not None
        ]
        return [i for i in infos if not i.get("parent_run_id")]

    def start_loop(self, project_id: str, task_id: str, prompt: str) -> dict[str, Any]:
        """Create the task (``prompt`` begins with ``MARK_ITERATION_1``); once its first
        iteration has begun, its first root run, which must be the one created, running."""
        created = self.create_task(project_id, task_id, prompt)
        marker = self.task_dir(project_id, task_id) / ITERATION_1_MARKER
        wait_until(marker.exists, 60, "iteration 1 to start")
        [first] = self.root_runs(project_id, task_id)
        assert first["status"] == "running" and first["run_id"] == created["run_id"], first
        return first

    def host_run_infos(self) -> list[tuple[Path, dict[str, Any]]]:
        found = []
        for path in sorted(self.data_dir.glob("*/*/runs/*/run-info.yaml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            found.append((path, data))
        return found

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def server_writable_dir(path: Path) -> Path:
    """Create directory ``path`` for the container's server (uid ``SERVER_UID``) to write
    through a bind mount: owned by it when we are root, else writable by anyone."""
    path.mkdir()
    if os.geteuid() == 0:
        os.chown(path, SERVER_UID, SERVER_UID)
    else:
        path.chmod(0o777)
    return path


def new_project_name() -> str:
    """Compose project names: lowercase letters and digits work with v1 and v2 alike."""
    return f"cltest{os.getpid()}{uuid.uuid4().hex[:8]}"


def stack_config_text(template: Path) -> str:
    """The repository's config.docker.yaml, with settings that make tests quick."""
    config = yaml.safe_load(template.read_text(encoding="utf-8"))
    config["agents"]["claude"]["timeout"] = 120
    config.setdefault("defaults", {}).update(
        {"agent": "claude", "restart_delay": 0.2, "max_restarts": 20, "stop_grace_period": 5}
    )
    return yaml.safe_dump(config, sort_keys=False)


def tree_snapshot(paths: Iterable[Path]) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in paths}


def wait_task_finished(
    stack: Stack, project_id: str, task_id: str, timeout: float = 120
) -> list[dict[str, Any]]:
    """Wait (on the host's copy of the runs) until DONE exists, no run is running and the
    task's loop has exited: the runner may still add to a finished run's record (a CLI
    version that arrived late) until then."""
    task_dir = stack.task_dir(project_id, task_id)

    def finished() -> list[dict[str, Any]] | None:
        if not (task_dir / "DONE").exists():
            return None
        try:
            loop = json.loads((task_dir / LOOP_STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if loop.get("state") != "exited":
            return None
        infos = []
        for run_dir in stack.run_dirs(project_id, task_id):
            path = run_dir / "run-info.yaml"
            if not path.is_file():
                return None
            infos.append(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        if not infos or any(info.get("status") == "running" for info in infos):
            return None
        return infos

    return wait_until(finished, timeout, f"task {project_id}/{task_id} to finish")
