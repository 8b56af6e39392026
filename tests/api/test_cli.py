"""``conductor`` itself: server start-up and logging, config overrides, UI, client commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import (
    VENV_BIN,
    ServerFactory,
    ServerProcess,
    seed_run,
    server_env,
)
from tests.api.test_tasks import agent_config
from tests.support import wait_until


def conductor(
    server: ServerProcess, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "conductor"), *args],
        env=server_env(CONDUCTOR_SERVER=server.url),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_startup_line_and_one_log_line_per_request(seeded_server: ServerProcess) -> None:
    log = seeded_server.log_text()
    startup = [line for line in log.splitlines() if "listening on" in line]
    assert len(startup) == 1
    assert "conductor 0.1.0" in startup[0]
    assert str(seeded_server.root.path) in startup[0]
    client = seeded_server.client()
    client.get("/api/v1/version", headers={"X-Request-ID": "count-me-1"})
    client.get("/api/v1/nothing-here", headers={"X-Request-ID": "count-me-2"})
    lines = wait_until(
        lambda: (
            [ln for ln in seeded_server.log_text().splitlines() if "count-me-" in ln]
            if seeded_server.log_text().count("count-me-") >= 2
            else None
        ),
        30,
        "access log lines",
    )
    assert len(lines) == 2
    assert '"GET /api/v1/version" 200' in lines[0]
    assert '"GET /api/v1/nothing-here" 404' in lines[1]


def test_environment_overrides_config(tmp_path: Path) -> None:
    root = tmp_path / "env-root"
    config = tmp_path / "config.yaml"
    config.write_text("api:\n  host: 127.0.0.1\n  port: 1\nstorage:\n  runs_dir: /nonexistent\n")
    log = open(tmp_path / "log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(VENV_BIN / "conductor")],
        env=server_env(CONDUCTOR_CONFIG=str(config), CONDUCTOR_ROOT=str(root), CONDUCTOR_PORT="0"),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        line = wait_until(
            lambda: next(
                (ln for ln in (tmp_path / "log").read_text().splitlines() if "listening" in ln),
                None,
            ),
            15,
            "start-up line",
        )
        assert f"runs dir {root}" in line
        assert "http://127.0.0.1:" in line and not line.rstrip().endswith(":1")
    finally:
        proc.terminate()
        assert proc.wait(5) == 0
        log.close()


def test_root_redirects_to_the_ui_and_docs_are_served(seeded_server: ServerProcess) -> None:
    client = seeded_server.client()
    root = client.get("/")
    assert root.status_code in (302, 307)
    assert root.headers["location"] == "/ui/"
    page = client.get("/ui/")  # the built UI or the placeholder, depending on the checkout
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/v1/runs/{run_id}/stream" in spec["paths"]


def test_ui_placeholder_when_not_built(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from conductor_loop.api.app import AppSettings, create_app
    from conductor_loop.config.models import Config

    settings = AppSettings(ui_dist=tmp_path / "no-dist")
    app = create_app(Config(), RunsRoot.at(tmp_path / "runs"), settings=settings)
    with TestClient(app, base_url="http://localhost") as client:
        page = client.get("/ui/")
        assert page.status_code == 200
        assert "not built" in page.text
        assert client.get("/ui", follow_redirects=False).headers["location"] == "/ui/"


def test_built_ui_is_served_when_present(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from conductor_loop.api.app import AppSettings, create_app
    from conductor_loop.config.models import Config

    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>the ui</html>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    app = create_app(Config(), RunsRoot.at(tmp_path / "runs"), settings=AppSettings(ui_dist=dist))
    with TestClient(app, base_url="http://localhost") as client:
        assert client.get("/ui/").text == "<html>the ui</html>"
        assert client.get("/ui/assets/app.js").text == "console.log(1)"
        assert client.get("/ui/projects/p1").text == "<html>the ui</html>"  # client route


def test_client_does_not_import_the_server_stack() -> None:
    code = (
        "import sys, conductor_loop.cli.conductor, conductor_loop.cli.conductor_client;"
        "bad = [m for m in ('fastapi', 'uvicorn', 'starlette', 'watchfiles') if m in sys.modules];"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_client_status_projects_and_bus(seeded_server: ServerProcess) -> None:
    status = conductor(seeded_server, "status")
    assert status.returncode == 0, status.stderr
    assert "active runs" in status.stdout
    projects = conductor(seeded_server, "project", "list")
    assert "alpha" in projects.stdout and "beta" in projects.stdout
    stats = json.loads(conductor(seeded_server, "project", "stats", "alpha", "--json").stdout)
    assert stats["run_count"] == 6
    posted = conductor(seeded_server, "bus", "post", "--project", "beta", "--body", "from cli")
    assert posted.returncode == 0, posted.stderr
    msg_id = posted.stdout.strip()
    read = conductor(seeded_server, "bus", "read", "--project", "beta", "--json")
    assert msg_id in [json.loads(line)["msg_id"] for line in read.stdout.splitlines()]
    later = conductor(seeded_server, "bus", "post", "--project", "beta", "--body", "later")
    back = conductor(
        seeded_server, "bus", "read", "--project", "beta", "--before", later.stdout.strip(),
        "--tail", "1", "--json",
    )  # fmt: skip
    assert [json.loads(line)["msg_id"] for line in back.stdout.splitlines()] == [msg_id]
    tasks = conductor(seeded_server, "task", "list", "--project", "alpha")
    assert "task-one" in tasks.stdout and "completed" in tasks.stdout
    shown = conductor(seeded_server, "task", "show", "task-two", "--project", "beta", "--json")
    assert len(json.loads(shown.stdout)["runs"]) == 3
    missing = conductor(seeded_server, "task", "show", "nope", "--project", "beta")
    assert missing.returncode == 2
    assert "not found" in missing.stderr


def test_client_reports_unreachable_server(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "conductor"), "status", "--server", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        env=server_env(),
        check=False,
    )
    assert result.returncode == 2
    assert "cannot reach the server" in result.stderr


def test_client_reports_an_invalid_server_url() -> None:
    for url in ("http://[::bad", "localhost:14355"):
        result = subprocess.run(
            [str(VENV_BIN / "conductor"), "task", "list", "--server", url],
            capture_output=True,
            text=True,
            env=server_env(),
            check=False,
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"error: invalid server URL {url!r}"), result.stderr
        assert "Traceback" not in result.stderr


@pytest.fixture
def agent_server(server_factory: ServerFactory, tmp_path: Path) -> ServerProcess:
    return server_factory(agent_config(tmp_path / "bin"), root=RunsRoot.at(tmp_path / "runs"))


def test_client_task_lifecycle_and_job_follow(agent_server: ServerProcess, tmp_path: Path) -> None:
    submitted = conductor(
        agent_server,
        "task",
        "submit",
        "--project",
        "cli",
        "--task",
        "t1",
        "--json",
        stdin="FAKE: write-done\n",
    )
    assert submitted.returncode == 0, submitted.stderr
    assert json.loads(submitted.stdout)["run_id"]
    job = conductor(
        agent_server,
        "job",
        "submit",
        "--project",
        "cli",
        "--task",
        "j1",
        "--follow",
        "--prompt",
        "FAKE: print-lines 3 0.02\nFAKE: exit 3\n",
    )
    assert job.returncode == 3, job.stderr
    lines = job.stdout.splitlines()  # the transcript, rendered as `run-agent job -f` does
    assert "assistant: line 3 of 3" in lines and lines[-1].startswith("usage: "), lines
    assert not [line for line in lines if line.startswith("{")], lines
    raw = conductor(
        agent_server,
        "job",
        "submit",
        "--project",
        "cli",
        "--task",
        "j2",
        "--follow",
        "--raw",
        "--prompt",
        "FAKE: answer fin\n",
    )
    assert raw.returncode == 0, raw.stderr
    assert [json.loads(line)["type"] for line in raw.stdout.splitlines()][-1] == "result"
    stop = conductor(agent_server, "task", "stop", "t1", "--project", "cli")
    assert stop.returncode == 0, stop.stderr
    wait_until(
        lambda: (
            agent_server.client().get("/api/projects/cli/tasks/t1").json()["status"]
            in ("completed", "stopped")
        ),
        20,
        "t1 to finish",
    )
    resumed = conductor(agent_server, "task", "resume", "t1", "--project", "cli")
    assert resumed.returncode == 0, resumed.stderr
    wait_until(
        lambda: (
            agent_server.client().get("/api/projects/cli/tasks/t1").json()["status"] == "completed"
        ),
        20,
        "t1 to complete again",
    )
    deleted = conductor(agent_server, "task", "delete", "t1", "--project", "cli")
    assert deleted.returncode == 0, deleted.stderr
    assert not agent_server.root.task_dir("cli", "t1").exists()
    seed_run(agent_server.root, "cli", "other")  # keeps the project listed


def test_metrics_count_requests_by_route_template_and_runs_by_status(
    seeded_server: ServerProcess,
) -> None:
    client = seeded_server.client()
    run_id = seeded_server.root.run_ids("beta", "task-one")[0]
    client.get(f"/api/v1/runs/{run_id}")
    client.get("/api/v1/runs/20990101-0000000000-1-1")
    client.post("/api/v1/messages", json={"project_id": "beta", "body": "count me"})
    text = client.get("/metrics").text
    assert 'route="/api/v1/runs/{run_id}",status="200"' in text
    assert 'route="/api/v1/runs/{run_id}",status="404"' in text
    assert run_id not in text  # templates, not raw paths
    assert 'conductor_runs{status="completed"} 12.0' in text
    assert "conductor_uptime_seconds " in text
    assert "conductor_sse_clients 0.0" in text
    bus_appends = next(
        line for line in text.splitlines() if line.startswith("conductor_bus_appends_total")
    )
    assert float(bus_appends.split()[1]) >= 1
