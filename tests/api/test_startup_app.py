"""Start-up: the server answers health at once, guarded, while its app is still being built.

``CONDUCTOR_TEST_APP_HOLD`` holds the build (FastAPI and the routes) until that file
exists, so what the server does before its app is ready is seen deterministically:
health answers, the guards (Host, API key) already refuse what they refuse, and any
other request waits and gets its full answer once the app is ready.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

from conductor_loop.bus.parser import parse_records
from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import API_KEY, ServerFactory, ServerProcess, seed_run, server_env
from tests.support import wait_until


def held_server(
    server_factory: ServerFactory, tmp_path: Path, config_text: str = "", **options: object
) -> tuple[ServerProcess, Path]:
    hold = tmp_path / "app-may-build"
    env = server_env(CONDUCTOR_TEST_APP_HOLD=str(hold))
    return server_factory(config_text, env=env, **options), hold


def send_raw(server: ServerProcess, request: str) -> socket.socket:
    """A connection that has sent ``request`` (the whole of it)."""
    parts = urlsplit(server.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.sendall(request.replace("\n", "\r\n").encode())
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, object]]:
    """Status and JSON body of the one response on ``sock`` (``Connection: close``)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def has_answered(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False
    finally:
        sock.setblocking(True)


def test_health_and_guards_answer_while_the_app_is_built_then_waiting_requests_are_served(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    root = RunsRoot.at(tmp_path / "runs")
    seed_run(root, "proj", "task-a", run_id="run-seeded", stdout="hello\n")
    server, hold = held_server(server_factory, tmp_path, root=root)
    client = server.client()

    assert client.get("/api/v1/health").json() == {"status": "ok"}
    assert client.get("/api/v1/version").json()["name"] == "conductor-loop"
    refused = client.get("/api/v1/runs", headers={"Host": "evil.example"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "host_not_allowed"
    traversal = client.get("/api/v1/runs/%2e%2e%2fetc")
    assert traversal.status_code == 400

    # Requests to the app made now wait for it (they are not refused) ...
    waiting = send_raw(
        server, "GET /api/v1/runs/run-seeded HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n\n"
    )
    posted: list[httpx.Response] = []
    poster = threading.Thread(
        target=lambda: posted.append(
            server.client().post("/api/projects/proj/messages", json={"body": "early bird"})
        )
    )
    poster.start()
    assert client.get("/api/v1/health").status_code == 200
    assert not has_answered(waiting)
    assert poster.is_alive()

    # ... and get their whole answer once it is ready.
    hold.touch()
    status, body = read_response(waiting)
    assert status == 200, body
    assert (body["run_id"], body["project_id"], body["task_id"]) == ("run-seeded", "proj", "task-a")
    poster.join(30)
    assert posted and posted[0].status_code == 201, posted[0].text if posted else "no answer"
    messages, _ = parse_records(root.project_bus("proj").read_text(encoding="utf-8"))
    assert [m.body for m in messages] == ["early bird"]
    assert client.get("/api/v1/status").json()["status"] == "ok"


def test_the_api_key_is_required_before_the_app_is_ready(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server, hold = held_server(
        server_factory, tmp_path, f"api:\n  api_key: {API_KEY}\n", host="0.0.0.0"
    )
    client = server.client()
    assert client.get("/api/v1/health").status_code == 200
    refused = client.get("/api/v1/status")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    assert API_KEY not in refused.text

    keyed: list[httpx.Response] = []
    waiter = threading.Thread(
        target=lambda: keyed.append(client.get("/api/v1/status", headers={"X-API-Key": API_KEY}))
    )
    waiter.start()
    hold.touch()
    waiter.join(30)
    assert keyed and keyed[0].status_code == 200


def test_sigterm_while_the_app_is_held_stops_cleanly(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server, _hold = held_server(server_factory, tmp_path)
    assert server.client().get("/api/v1/health").status_code == 200
    waiting = send_raw(server, "GET /api/v1/runs HTTP/1.1\nHost: localhost\nConnection: close\n\n")
    assert server.client().get("/api/v1/health").status_code == 200
    assert server.stop() == 0
    # The request that waited for the app is answered, not dropped.
    status, body = read_response(waiting)
    assert status == 503
    assert body["error"]["code"] == "unavailable"
    assert "conductor stopped" in server.log_text()


def test_workers_answer_health_while_their_apps_are_held(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server, hold = held_server(server_factory, tmp_path, args=("--workers", "2"))
    wait_until(lambda: len(psutil.Process(server.pid).children()) == 2, 20, "the workers to start")
    client = server.client()
    answered = {
        int(
            client.get("/api/v1/health", headers={"Connection": "close"}).headers[
                "x-conductor-worker"
            ]
        )
        for _ in range(40)
    }
    assert answered <= {child.pid for child in psutil.Process(server.pid).children()}
    hold.touch()
    assert client.get("/api/v1/runs").json()["runs"] == []
    assert server.stop() == 0
    assert server.log_text().count("listening on") == 1


def test_the_front_imports_no_app_stack() -> None:
    """What a worker imports before it listens: no FastAPI, pydantic or Prometheus (they
    are imported by the background build)."""
    code = (
        "import sys, uvicorn, conductor_loop.cli.conductor, conductor_loop.config.loader\n"
        "from conductor_loop.api import server, startup, front, access, middleware\n"
        "from conductor_loop.api.connections import guarded_protocol\n"
        "guarded_protocol(max_connections=10, header_timeout=1.0)\n"
        "heavy = ('fastapi', 'pydantic', 'prometheus_client', 'starlette.responses', 'yaml')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_app_does_not_import_pydantic_v1(tmp_path: Path) -> None:
    """FastAPI's check for pydantic v1 models is made lazy (``api.fastapi_compat``): the
    app is built and answers without ever importing ``pydantic.v1``."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from fastapi.testclient import TestClient\n"
        "from conductor_loop.api.app import create_app\n"
        "from conductor_loop.config.models import Config\n"
        "from conductor_loop.storage.layout import RunsRoot\n"
        f"app = create_app(Config(), RunsRoot.at(Path({str(tmp_path / 'runs')!r})))\n"
        "with TestClient(app, base_url='http://localhost') as client:\n"
        "    assert client.get('/api/v1/runs').status_code == 200\n"
        "    assert client.post('/api/v1/tasks', json={}).status_code == 422\n"
        "print('pydantic.v1' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
