"""No state change from another site and no DNS rebinding (issue 10, H2).

Reproductions first: on the old server each of these started an agent (or would have).
The browser-level proof (a page of another origin trying a form POST and a fetch) is in
tests/e2e/test_cross_origin.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from conductor_loop.api.middleware.request_guard import HostPolicy, normalize_origin, split_host
from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import ServerFactory, ServerProcess, wait_task
from tests.api.test_tasks import agent_config, submit

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
EVIL = "http://evil.example"


@pytest.fixture
def guarded_server(server_factory: ServerFactory, tmp_path: Path) -> ServerProcess:
    config = agent_config(tmp_path / "bin") + "api:\n  cors_origins: [http://localhost:3000]\n"
    return server_factory(config, root=RunsRoot.at(tmp_path / "runs"))


def run_ids(server: ServerProcess, project: str, task: str) -> list[str]:
    return server.root.run_ids(project, task)


def bare_client(server: ServerProcess) -> httpx.Client:
    """A client that sends only the headers each test gives (no JSON by default)."""
    return server.client(headers={})


def test_cross_site_form_post_does_not_resume_a_task(guarded_server: ServerProcess) -> None:
    client = guarded_server.client()
    assert submit(client, task_id="t1", prompt="FAKE: write-done\n").status_code == 201
    wait_task(guarded_server.api(), "proj", "t1", "completed")
    before = run_ids(guarded_server, "proj", "t1")
    done_file = guarded_server.root.task_dir("proj", "t1") / "DONE"
    assert done_file.exists()

    # What an HTML form on evil.example sends (a "simple" request: no CORS preflight).
    answer = bare_client(guarded_server).post(
        "/api/projects/proj/tasks/t1/resume", content=b"", headers={**FORM, "Origin": EVIL}
    )
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "cross_origin"
    assert EVIL in answer.json()["error"]["message"]
    # Sec-Fetch-Site alone (no Origin) is enough to tell a cross-site request.
    fetch_site = bare_client(guarded_server).post(
        "/api/projects/proj/tasks/t1/resume",
        headers={"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"},
    )
    assert fetch_site.status_code == 403
    assert done_file.exists()
    assert run_ids(guarded_server, "proj", "t1") == before


def test_foreign_host_header_is_refused_and_nothing_runs(guarded_server: ServerProcess) -> None:
    port = httpx.URL(guarded_server.url).port
    client = guarded_server.client()
    rebound = client.post(
        "/api/v1/tasks",
        json={"project_id": "proj", "task_id": "t2", "prompt": "FAKE: write-done\n"},
        headers={"Host": f"attacker.example:{port}"},
    )
    assert rebound.status_code == 403, rebound.text
    assert rebound.json()["error"]["code"] == "host_not_allowed"
    assert "api.allowed_hosts" in rebound.json()["error"]["message"]
    # Reads too: a rebound page must not read run output either.
    read = client.get("/api/v1/runs", headers={"Host": f"attacker.example:{port}"})
    assert read.status_code == 403
    assert not guarded_server.root.task_dir("proj", "t2").exists()


def test_json_post_without_content_type_is_refused(guarded_server: ServerProcess) -> None:
    """What a ``no-cors`` fetch sends: a JSON body with a text/plain (or no) type."""
    body = b'{"project_id": "proj", "task_id": "t3", "prompt": "FAKE: write-done\\n"}'
    for headers in ({}, {"Content-Type": "text/plain;charset=UTF-8"}):
        answer = bare_client(guarded_server).post("/api/v1/tasks", content=body, headers=headers)
        assert answer.status_code == 415, answer.text
        assert answer.json()["error"]["code"] == "unsupported_media_type"
    assert not guarded_server.root.task_dir("proj", "t3").exists()


def state_changing_operations(server: ServerProcess) -> list[tuple[str, str]]:
    spec: dict[str, Any] = server.client().get("/openapi.json").json()
    found = []
    for path, operations in spec["paths"].items():
        for method in operations:
            if method.upper() in ("POST", "PUT", "PATCH", "DELETE"):
                concrete = (
                    path.replace("{project_id}", "proj")
                    .replace("{task_id}", "t4")
                    .replace("{run_id}", "20260101-0000000000-1-1")
                )
                found.append((method.upper(), concrete))
    return found


def test_every_state_changing_route_is_guarded(guarded_server: ServerProcess) -> None:
    operations = state_changing_operations(guarded_server)
    assert len(operations) >= 10, operations
    client = bare_client(guarded_server)
    for method, path in operations:
        foreign = client.request(method, path, headers={**FORM, "Origin": EVIL})
        assert foreign.status_code == 403, (method, path, foreign.text)
        same_site_other_port = client.request(
            method, path, headers={**FORM, "Origin": "http://localhost:9999"}
        )
        assert same_site_other_port.status_code == 403, (method, path)
        untyped = client.request(method, path)
        assert untyped.status_code == 415, (method, path, untyped.text)
    assert not guarded_server.root.task_dir("proj", "t4").exists()


def test_own_origin_and_configured_origins_are_accepted(guarded_server: ServerProcess) -> None:
    client = guarded_server.client()
    own = guarded_server.url
    for origin in (own, "http://localhost:3000"):
        posted = client.post(
            "/api/projects/proj/messages",
            json={"type": "USER", "body": f"from {origin}"},
            headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"},
        )
        # The project does not exist yet: 404 from the route, not 403 from the guard.
        assert posted.status_code == 404, (origin, posted.text)
    created = submit(client, task_id="t5", prompt="FAKE: write-done\n")
    assert created.status_code == 201
    cors = client.post(
        "/api/projects/proj/messages",
        json={"type": "USER", "body": "from the dev server"},
        headers={"Origin": "http://localhost:3000"},
    )
    assert cors.status_code == 201, cors.text
    assert cors.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_allowed_hosts_extend_the_host_list(server_factory: ServerFactory) -> None:
    server = server_factory("api:\n  allowed_hosts: [conductor.internal, .example.org]\n")
    client = server.client()
    for host in ("conductor.internal", "ci.example.org:8080", "localhost:1", "10.1.2.3", "[::1]"):
        assert client.get("/api/v1/health", headers={"Host": host}).status_code == 200, host
    for host in ("example.org.evil", "conductor.internal.evil", "xexample.org", ""):
        assert client.get("/api/v1/health", headers={"Host": host}).status_code == 403, host


def test_public_url_host_and_origin_are_accepted(server_factory: ServerFactory) -> None:
    server = server_factory("api:\n  public_url: https://conductor.example.com\n")
    client = server.client()
    headers = {"Host": "conductor.example.com", "Origin": "https://conductor.example.com"}
    answer = client.post("/api/projects/nope/messages", json={"type": "USER"}, headers=headers)
    assert answer.status_code == 404, answer.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost:14355", ("localhost", "14355")),
        ("LOCALHOST.", ("localhost", "")),
        ("[::1]:80", ("::1", "80")),
        ("::1", ("::1", "")),
        ("example.com", ("example.com", "")),
    ],
)
def test_split_host(value: str, expected: tuple[str, str]) -> None:
    assert split_host(value) == expected


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        ("http://localhost:80", "http://localhost"),
        ("HTTPS://Example.COM:443", "https://example.com"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("null", "null"),
    ],
)
def test_normalize_origin(origin: str, expected: str) -> None:
    assert normalize_origin(origin) == expected


def test_host_policy_star_allows_any_host() -> None:
    assert HostPolicy(["*"]).allows("anything.example")
    assert not HostPolicy([]).allows("anything.example")
    assert HostPolicy([]).allows("app.localhost:5173")
