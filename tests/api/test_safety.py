"""Safety of the HTTP surface: ids, auth, CORS, request ids, error bodies, limits, secrets."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import (
    AGENT_TOKEN,
    API_KEY,
    ServerFactory,
    ServerProcess,
    seed_run,
)
from tests.support import (
    OUTSIDE_ROOT,
    SAMPLE_HOSTILE_IDS,
    SAMPLE_HOSTILE_LABELS,
)


def _encode(value: str) -> str:
    """Percent-encode every character that could change how the path is split or normalised."""
    return quote(value, safe="").replace(".", "%2E")


def _error_shape(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def _snapshot(base: Path, skip: set[Path]) -> dict[str, tuple[int, int]]:
    state = {}
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) not in skip]
        for name in [*filenames, *dirnames]:
            path = Path(dirpath, name)
            if path in skip:
                continue
            st = path.stat()
            state[str(path)] = (st.st_mtime_ns, st.st_size)
    return state


def _param_routes(server: ServerProcess) -> list[tuple[str, str, list[str]]]:
    spec = server.client().get("/openapi.json").json()
    routes = []
    for path, methods in spec["paths"].items():
        params = re.findall(r"{(\w+)}", path)
        if params:
            routes.extend((method.upper(), path, params) for method in methods)
    return routes


def test_every_path_parameter_rejects_traversal_without_touching_files(
    seeded_server: ServerProcess,
) -> None:
    root = seeded_server.root.path
    outside = root.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text("do not touch\n", encoding="utf-8")
    skip = {root, seeded_server.log_path}
    before_outside = _snapshot(root.parent, skip)
    before_root = _snapshot(root, set())
    run_id = seeded_server.root.run_ids("alpha", "task-one")[0]
    valid = {"project_id": "alpha", "task_id": "task-one", "run_id": run_id}
    routes = _param_routes(seeded_server)
    assert len(routes) >= 20, routes
    client = seeded_server.client()
    checked = 0
    for method, template, params in routes:
        for param in params:
            for label, hostile in SAMPLE_HOSTILE_IDS:
                values = dict(valid, **{param: hostile})
                path = template
                for name in params:
                    path = path.replace("{" + name + "}", _encode(values[name]))
                body = {} if method == "POST" else None
                response = client.request(method, path, json=body)
                assert response.status_code == 400, (method, template, param, label)
                _error_shape(response)
                assert response.json()["error"]["code"] == "invalid_id", response.text
                checked += 1
    assert checked > 60
    assert not Path(OUTSIDE_ROOT).exists()
    assert _snapshot(root.parent, skip) == before_outside
    assert _snapshot(root, set()) == before_root


def test_the_app_takes_no_route_that_skips_the_id_check() -> None:
    """The app takes its routers' routes as they are (``app._add_routes``): one declared
    on a plain router, without ``validate_path_ids``, is refused at start-up."""
    from fastapi import APIRouter, FastAPI

    from conductor_loop.api.app import _add_routes
    from conductor_loop.api.routes import api_router

    checked, plain = api_router(), APIRouter()
    for router in (checked, plain):
        router.add_api_route("/api/v1/projects/{project_id}/x", lambda project_id: None)
    app = FastAPI()
    _add_routes(app, checked)
    with pytest.raises(TypeError, match="does not check its path ids"):
        _add_routes(app, plain)
    assert [getattr(r, "path", "") for r in app.router.routes].count(
        "/api/v1/projects/{project_id}/x"
    ) == 1


@pytest.mark.parametrize(("label", "hostile"), SAMPLE_HOSTILE_IDS, ids=SAMPLE_HOSTILE_LABELS)
def test_ids_in_query_and_body_are_validated(
    seeded_server: ServerProcess, label: str, hostile: str
) -> None:
    client = seeded_server.client()
    cases = [
        client.get("/api/v1/messages", params={"project_id": hostile}),
        client.get("/api/v1/messages", params={"project_id": "alpha", "task_id": hostile}),
        client.get("/api/v1/runs", params={"project_id": hostile}),
        client.post("/api/v1/messages", json={"project_id": hostile, "body": "x"}),
        client.post("/api/v1/tasks", json={"project_id": hostile, "prompt": "x"}),
        client.post(
            "/api/v1/tasks", json={"project_id": "alpha", "task_id": hostile, "prompt": "x"}
        ),
        client.get(f"/api/v1/tasks/task-one?project_id={quote(hostile, safe='')}"),
    ]
    for response in cases:
        assert response.status_code in (400, 422), (label, response.request.url, response.text)
        _error_shape(response)
    assert not (seeded_server.root.path.parent / "x").exists()


def test_error_bodies_have_one_shape(seeded_server: ServerProcess) -> None:
    client = seeded_server.client()
    cases = {
        404: client.get("/api/v1/no-such-route"),
        405: client.put("/api/v1/health"),
        422: client.get("/api/v1/runs", params={"limit": 0}),
        400: client.get("/api/v1/runs/.hidden"),
    }
    for status, response in cases.items():
        assert response.status_code == status
        error = _error_shape(response)
        assert error["code"] in {
            "not_found",
            "method_not_allowed",
            "validation_error",
            "invalid_id",
        }
    missing = client.get("/api/v1/runs/20990101-0000000000-1-1")
    assert missing.status_code == 404
    assert _error_shape(missing)["code"] == "not_found"
    conflict = client.post(
        "/api/v1/tasks", json={"project_id": "alpha", "task_id": "task-one", "prompt": "again"}
    )
    assert conflict.status_code == 409
    assert _error_shape(conflict)["code"] == "conflict"
    bad_json = client.post(
        "/api/v1/messages", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 422
    _error_shape(bad_json)


def test_request_id_is_echoed_or_generated_on_every_response(seeded_server: ServerProcess) -> None:
    client = seeded_server.client()
    echoed = client.get("/api/v1/health", headers={"X-Request-ID": "trace-abc.123"})
    assert echoed.headers["x-request-id"] == "trace-abc.123"
    for response in (
        client.get("/api/v1/health"),
        client.get("/api/v1/nope"),
        client.get("/api/v1/runs/%2E%2E"),
        client.get("/api/v1/health", headers={"X-Request-ID": "bad id with spaces"}),
        client.get("/api/v1/health", headers={"X-Request-ID": "x" * 500}),
    ):
        rid = response.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid), rid
    assert "trace-abc.123" in seeded_server.log_text()


def test_instance_id_header_on_every_response(server_factory: ServerFactory) -> None:
    """``X-Conductor-Instance`` names the replica that answered, errors and 404s included."""
    from tests.api.helpers import server_env

    server = server_factory(env=server_env(CONDUCTOR_INSTANCE_ID="replica-7\r\nX-Evil: 1"))
    client = server.client()
    responses = [
        client.get("/api/v1/health"),
        client.get("/api/v1/nope"),
        client.get("/api/v1/runs/%2E%2E"),
        client.get("/api/v1/runs"),
        client.post("/api/v1/messages", content=b"{not json"),
    ]
    for response in responses:
        assert response.headers["x-conductor-instance"] == "replica-7_X-Evil:_1", response
        assert "x-evil" not in response.headers


def test_body_size_limit_gives_413(seeded_server: ServerProcess) -> None:
    client = seeded_server.client()
    big = {"project_id": "alpha", "body": "x" * 8000}
    declared = client.post("/api/v1/messages", json=big)
    assert declared.status_code == 413
    assert _error_shape(declared)["code"] == "payload_too_large"

    def chunks() -> object:
        for _ in range(10):
            yield b"x" * 1000

    streamed = client.post(
        "/api/v1/messages", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    _error_shape(streamed)
    small = client.post("/api/v1/messages", json={"project_id": "alpha", "body": "fits"})
    assert small.status_code == 201


PUBLIC = ["/api/v1/health", "/api/v1/version", "/metrics", "/ui/", "/openapi.json", "/docs"]
PROTECTED = [
    ("GET", "/api/v1/status"),
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/tasks"),
    ("GET", "/api/projects"),
    ("GET", "/api/v1/messages?project_id=p1"),
    ("POST", "/api/v1/messages"),
    ("GET", "/api/v1/runs/stream/all"),
]


@pytest.fixture
def keyed_server(server_factory: ServerFactory, tmp_path: Path) -> ServerProcess:
    root = RunsRoot.at(tmp_path / "runs")
    seed_run(root, "p1", "t1", stdout="hello\n")
    config = (
        "agents:\n"
        f"  claude: {{type: claude, token: {AGENT_TOKEN}}}\n"
        "api:\n"
        f"  api_key: {API_KEY}\n"
        "  cors_origins: [http://ui.example:3000]\n"
    )
    return server_factory(config, root=root)


def test_auth_table(keyed_server: ServerProcess) -> None:
    client = keyed_server.client()
    for path in PUBLIC:
        assert client.get(path).status_code == 200, path
    good = [
        {"Authorization": f"Bearer {API_KEY}"},
        {"X-API-Key": API_KEY},
        {"authorization": f"bearer {API_KEY}"},
    ]
    bad: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer wrong"},
        {"X-API-Key": API_KEY[:-1]},
        {"Authorization": API_KEY},
        {"Authorization": f"Basic {API_KEY}"},
    ]
    body = {"project_id": "p1", "body": "hi"}
    for method, path in PROTECTED:
        for headers in bad:
            response = client.request(
                method, path, headers=headers, json=body if method == "POST" else None
            )
            assert response.status_code == 401, (method, path, headers)
            assert _error_shape(response)["code"] == "unauthorized"
        for headers in good:
            if path.endswith("/stream/all"):
                with client.stream(method, path, headers=headers) as streamed:
                    assert streamed.status_code == 200
                continue
            response = client.request(
                method, path, headers=headers, json=body if method == "POST" else None
            )
            assert response.status_code in (200, 201), (method, path, response.text)


def test_auth_off_leaves_everything_open(seeded_server: ServerProcess) -> None:
    client = seeded_server.client()
    for path in [*PUBLIC, "/api/v1/status", "/api/v1/runs", "/api/projects"]:
        assert client.get(path).status_code == 200, path


def test_cors_preflight_and_simple_requests(keyed_server: ServerProcess) -> None:
    client = keyed_server.client()
    preflight = client.options(
        "/api/v1/runs",
        headers={
            "Origin": "http://ui.example:3000",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization,last-event-id",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://ui.example:3000"
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert "x-request-id" in preflight.headers
    refused = client.options(
        "/api/v1/runs",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    simple = client.get("/api/v1/health", headers={"Origin": "http://ui.example:3000"})
    assert simple.headers["access-control-allow-origin"] == "http://ui.example:3000"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()


def test_no_secret_in_any_response_or_log_line(keyed_server: ServerProcess) -> None:
    client = keyed_server.client(headers={"Authorization": f"Bearer {API_KEY}"})
    anonymous = keyed_server.client()
    run_id = keyed_server.root.run_ids("p1", "t1")[0]
    responses = [
        client.get("/api/v1/status"),
        client.get("/api/v1/runs"),
        client.get(f"/api/v1/runs/{run_id}"),
        client.get(f"/api/v1/runs/{run_id}/info"),
        client.get("/api/v1/tasks"),
        client.get("/api/projects/p1/stats"),
        client.get("/openapi.json"),
        client.get("/metrics"),
        client.post("/api/v1/tasks", json={"project_id": "p1", "prompt": "x", "agent": "nope"}),
        client.post("/api/v1/tasks", json={"project_id": "p1", "task_id": "t1", "prompt": "x"}),
        client.get(f"/api/v1/runs?api_key={API_KEY}"),
        anonymous.get("/api/v1/runs"),
        anonymous.get(f"/api/v1/status?key={API_KEY}"),
        client.get("/api/v1/runs/%2E%2E"),
    ]
    with client.stream("GET", f"/api/v1/runs/{run_id}/stream") as stream:
        streamed = b"".join(stream.iter_bytes())
    texts = [r.text + str(dict(r.headers)) for r in responses] + [streamed.decode()]
    log = keyed_server.log_text()
    assert "GET" in log  # the access log is there to be checked
    for secret in (API_KEY, AGENT_TOKEN):
        for text in texts:
            assert secret not in text
        assert secret not in log
