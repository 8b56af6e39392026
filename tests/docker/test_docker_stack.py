"""The Compose stack: start-up and health, network isolation, volumes, logs, stopping.

Each test runs its own Compose project (see the ``stack`` fixture). Tasks run the
stand-in ``claude`` baked into the test image; its behaviour is set by ``FAKE:`` lines
in the prompt (tests/fakes/fake_agent.py).
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
import yaml

from conductor_loop import __version__
from tests.docker.helpers import (
    REPO,
    SERVER_UID,
    Stack,
    docker,
    inspect,
    record_figure,
    wait_task_finished,
    wait_until,
)

pytestmark = pytest.mark.docker

# Fetches a URL from inside a container; prints the body, exits non-zero on any failure.
PROBE = (
    "import sys, urllib.request\n"
    "print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())\n"
)


def test_run(stack: Stack) -> None:
    started = time.monotonic()
    stack.up()
    stack.wait_healthy()
    record_figure("time_to_healthy_seconds", time.monotonic() - started)

    health = stack.http.get("/api/v1/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert health.headers.get("x-request-id")

    ui = stack.http.get("/ui/", follow_redirects=True)
    assert ui.status_code == 200, ui.text[:500]
    assert "text/html" in ui.headers.get("content-type", "")
    if (REPO / "frontend" / "package.json").is_file():
        assert "not built" not in ui.text, "the image serves no built UI"
    root = stack.http.get("/")
    assert root.is_redirect and root.headers["location"].rstrip("/").endswith("/ui")

    # A plain `up` starts the server only: the UI dev server sits behind a profile.
    assert len(stack.project_containers()) == 1
    host_config = inspect(stack.container_id())["HostConfig"]
    assert host_config["RestartPolicy"]["Name"] == "unless-stopped"


def test_network_isolation(stack: Stack) -> None:
    stack.up()
    stack.wait_healthy()
    networks = inspect(stack.container_id())["NetworkSettings"]["Networks"]
    assert len(networks) == 1, networks
    ((network, settings),) = networks.items()
    assert network.endswith("conductor-net")
    address = settings["IPAddress"]

    inside = docker(
        "run", "--rm", "--network", network, stack.image,
        "python3", "-c", PROBE, "http://conductor:14355/api/v1/health",
    )  # fmt: skip
    assert '"ok"' in inside.stdout

    other = f"{stack.project}-other"
    docker("network", "create", "--driver", "bridge", other)
    stack.cleanups.append(lambda: docker("network", "rm", other, check=False))
    for url in ("http://conductor:14355/api/v1/health", f"http://{address}:14355/api/v1/health"):
        outside = docker(
            "run", "--rm", "--network", other, stack.image, "python3", "-c", PROBE, url,
            check=False, timeout=60,
        )  # fmt: skip
        assert outside.returncode != 0, f"{url} answered from another network: {outside.stdout}"
        assert '"ok"' not in outside.stdout


def test_volume_mounts(stack: Stack) -> None:
    """Mounts as the server sees them (a one-off container of the service; no server)."""
    script = (
        "id -u; "
        "touch /data/runs/written-in-container && echo data-writable; "
        "if touch /data/config/config.yaml 2>/dev/null; then echo config-writable; "
        "else echo config-read-only; fi; "
        "cat /secrets/claude.token"
    )
    out = stack.compose("run", "--rm", "--no-deps", "-T", "conductor", "sh", "-c", script)
    lines = out.split()
    assert lines[:3] == [str(SERVER_UID), "data-writable", "config-read-only"], out
    assert lines[3] == stack.token
    written = stack.data_dir / "written-in-container"
    assert written.is_file()
    assert written.stat().st_uid == SERVER_UID


def test_volumes(stack: Stack) -> None:
    """Runs written by the server land in the host bind mount with the documented layout."""
    stack.up()
    stack.wait_healthy()
    project, task = "docker-volumes", "task-20260101-000000-volumes"
    prompt = "FAKE: answer hello from the container\nFAKE: write-done"
    created = stack.create_task(project, task, prompt)
    wait_task_finished(stack, project, task)

    task_dir = stack.task_dir(project, task)
    for name in ("TASK.md", "TASK-MESSAGE-BUS.md", "DONE"):
        assert (task_dir / name).is_file(), name
    # The loop posts its completion FACT to the project bus after the last run ended.
    project_bus = stack.data_dir / project / "PROJECT-MESSAGE-BUS.md"
    wait_until(project_bus.is_file, 20, "the completion FACT on the project bus")
    run_dirs = stack.run_dirs(project, task)
    assert run_dirs, "no run directory on the host"
    if created.get("run_id"):
        assert created["run_id"] in [d.name for d in run_dirs]
    run_dir = run_dirs[-1]
    for name in ("run-info.yaml", "prompt.md", "output.md", "agent-stdout.txt", "agent-stderr.txt"):
        path = run_dir / name
        assert path.is_file(), name
        assert path.stat().st_uid == SERVER_UID, f"{name} owned by {path.stat().st_uid}"
    assert "hello from the container" in (run_dir / "output.md").read_text(encoding="utf-8")
    info = yaml.safe_load((run_dir / "run-info.yaml").read_text(encoding="utf-8"))
    assert info["status"] == "completed"
    container_run_dir = f"/data/runs/{project}/{task}/runs/{run_dir.name}"
    assert info["output_path"] == f"{container_run_dir}/output.md"

    mounts = {m["Destination"]: m for m in inspect(stack.container_id())["Mounts"]}
    assert mounts["/data/runs"]["RW"] is True
    assert mounts["/data/config/config.yaml"]["RW"] is False


def test_logs(stack: Stack) -> None:
    stack.up()
    stack.wait_healthy()
    request_ids = [f"dockertest-{uuid.uuid4().hex}" for _ in range(3)]
    for request_id in request_ids:
        response = stack.http.get("/api/v1/version", headers={"X-Request-ID": request_id})
        assert response.status_code == 200
        assert response.headers["x-request-id"] == request_id
    project, task = "docker-logs", "task-20260101-000000-logs"
    stack.create_task(project, task, "FAKE: answer logged\nFAKE: write-done")
    wait_task_finished(stack, project, task)

    def all_logged() -> str | None:
        logs = stack.logs()
        return logs if all(rid in logs for rid in request_ids) else None

    logs = wait_until(all_logged, 20, "the access log lines")
    lines = logs.splitlines()
    startup = [
        line
        for line in lines
        if __version__ in line and "0.0.0.0:14355" in line and "/data/runs" in line
    ]
    assert startup, "no start-up line with version, bind address and runs dir:\n" + logs[-3000:]
    for request_id in request_ids:
        assert sum(request_id in line for line in lines) == 1, request_id
    assert stack.token not in logs
    assert stack.token not in stack.http.get("/api/v1/status").text


def test_graceful_stop(stack: Stack) -> None:
    stack.up()
    stack.wait_healthy()
    project, task = "docker-stop", "task-20260101-000000-stop"
    stack.create_task(
        project,
        task,
        'FAKE: run touch "$JRUN_TASK_FOLDER/agent-started"\nFAKE: sleep 300\nFAKE: write-done',
    )
    marker = stack.task_dir(project, task) / "agent-started"
    wait_until(marker.exists, 60, "the agent to start")
    container = stack.container_id()

    started = time.monotonic()
    docker("stop", "-t", "30", container, timeout=90)
    elapsed = time.monotonic() - started
    record_figure("docker_stop_seconds", elapsed)

    # How long it took is a figure; what is checked is how it ended. The agent sleeps
    # 300 s, far past docker's 30 s: only the conductor's own SIGTERM handling can have
    # ended it with exit 0 (docker's SIGKILL after the 30 s would read 137).
    state = inspect(container)["State"]
    assert state["Status"] == "exited"
    assert state["ExitCode"] == 0 and not state["OOMKilled"], state
    logs = docker("logs", container, check=False)
    assert "conductor stopped" in logs.stdout + logs.stderr, logs.stderr[-3000:]
    # PID 1 had nothing left to kill: the conductor stopped its runs itself.
    assert "killing them" not in logs.stdout + logs.stderr, logs.stderr[-3000:]
    infos = stack.host_run_infos()
    running = [str(p) for p, info in infos if info.get("status") == "running"]
    assert not running, f"runs left 'running' on disk: {running}"
    ours = [info for p, info in infos if task in str(p)]
    assert ours and all(info.get("exit_code") == 143 for info in ours), ours  # runner-ended
    assert not (stack.task_dir(project, task) / "DONE").exists()  # the agent never finished


def test_stack_is_on_loopback_and_uses_a_generated_key(stack: Stack) -> None:
    """Issue 10 (H1): Compose publishes on 127.0.0.1, and the image, bound to 0.0.0.0
    inside, works with the key it generated at first start (kept across restarts)."""
    stack.up()
    stack.wait_healthy()
    bindings = inspect(stack.container_id())["HostConfig"]["PortBindings"]["14355/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"], bindings

    anonymous = httpx.get(f"{stack.base_url}/api/v1/status", timeout=15)
    assert anonymous.status_code == 401, anonymous.text
    key = stack.api_key
    assert stack.http.get("/api/v1/status").status_code == 200
    mode = stack.compose("exec", "-T", "conductor", "stat", "-c", "%a %u", "/data/state/api-key")
    assert mode.split() == ["600", str(SERVER_UID)]
    # The first start printed the login URL; `conductor key` prints it again.
    assert stack.logs().count(f"/ui/#key={key}") == 1
    login = stack.compose("exec", "-T", "conductor", "conductor", "key").strip()
    assert login == f"http://127.0.0.1:14355/ui/#key={key}"
    # The key lives in the state volume, not among the runs (where it would be a project).
    assert not any(stack.data_dir.iterdir())

    stack.compose("restart", "conductor")
    stack.wait_healthy()
    wait_until(
        lambda: stack.client().get("/api/v1/status").status_code == 200, 30, "the restarted server"
    )
    stack._api_key = None
    assert stack.api_key == key
    assert anonymous.json()["error"]["code"] == "unauthorized"
