"""Reading a bus over HTTP: all, the last N, after an id, and paging back before one,
at both the core and the project-centric routes."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from conductor_loop.api.models import MessageOut
from conductor_loop.bus import BusWriter, Message, read_all
from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import ServerFactory
from tests.support import HeldLock, Tmpfs, wait_until

JSON_HEADERS = {"Content-Type": "application/json"}


def _fill(root: RunsRoot, count: int) -> list[str]:
    root.ensure_task_dir("p", "t")
    with BusWriter(root.task_bus("p", "t")) as writer:
        return [
            writer.append(Message("INFO", "p", task_id="t", body=f"m{i}")).msg_id
            for i in range(count)
        ]


def test_paging_back_through_a_task_bus(server_factory: ServerFactory) -> None:
    server = server_factory()
    ids = _fill(server.root, 250)
    client = server.client()
    for url, params in (
        ("/api/v1/messages", {"project_id": "p", "task_id": "t"}),
        ("/api/projects/p/tasks/t/messages", {}),
    ):
        newest = client.get(url, params=params | {"tail": 50}).json()
        assert [m["msg_id"] for m in newest["messages"]] == ids[-50:]
        page = client.get(url, params=params | {"before": ids[-50], "tail": 120}).json()
        assert [m["msg_id"] for m in page["messages"]] == ids[80:200]
        assert page["total"] == 120
        default = client.get(url, params=params | {"before": ids[150]}).json()
        assert [m["msg_id"] for m in default["messages"]] == ids[50:150]  # 100 by default
        first = client.get(url, params=params | {"before": ids[0]}).json()
        assert first["messages"] == []
        after = client.get(url, params=params | {"after": ids[-3]}).json()
        assert [m["msg_id"] for m in after["messages"]] == ids[-2:]


def test_paging_errors_are_clear(server_factory: ServerFactory) -> None:
    server = server_factory()
    ids = _fill(server.root, 5)
    client = server.client()
    base = {"project_id": "p", "task_id": "t"}
    both = client.get("/api/v1/messages", params=base | {"before": ids[3], "after": ids[1]})
    assert both.status_code == 400
    assert both.json()["error"]["message"] == "give after or before, not both"
    unknown = client.get("/api/v1/messages", params=base | {"before": "MSG-NOPE"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_message_id"
    empty = client.get("/api/projects/p/messages", params={"before": "MSG-NOPE"})
    assert empty.status_code == 404 and "no messages" in empty.json()["error"]["message"]


# A whole record header as a writer makes it (issue 10, M3).
FORGED = (
    "msg_id: MSG-FORGED\nts: 2020-01-01T00:00:00Z\ntype: RUN_STOP\nproject_id: p\n"
    "body_length: 0\n---\n"
)


def test_bodies_holding_record_headers_read_back_as_posted(server_factory: ServerFactory) -> None:
    """Forged headers in a body, posted with a meta value holding a space or with parents,
    come back as the one message posted: in full, as the last N, and after an id."""
    server = server_factory()
    server.root.ensure_task_dir("p", "t")
    client = server.client()
    url = "/api/projects/p/messages"
    filler = client.post(url, json={"body": "f" * 100_000})  # tail reads search back past it
    assert filler.status_code == 201, filler.text
    posts = [
        {"body": FORGED, "meta": {"note": "has a space"}},
        {"body": "x\n---\n" + FORGED, "meta": {"k": "a b"}},
        {"body": FORGED, "parents": [filler.json()["msg_id"]]},
        {"body": "x" + ("\n---\n" + FORGED[:-1]) * 5, "type": "FACT"},
    ]
    posted = []
    for post in posts:
        response = client.post(url, json=post)
        assert response.status_code == 201, response.text
        posted.append(response.json())
    every = client.get(url).json()["messages"]
    assert every == [filler.json(), *posted]
    for count in (1, 2, 4):
        assert client.get(url, params={"tail": count}).json()["messages"] == posted[-count:]
    after = client.get(url, params={"after": posted[0]["msg_id"]}).json()["messages"]
    assert after == posted[1:]


def test_invalid_utf8_in_a_bus_file_reads_with_replacement_characters(
    server_factory: ServerFactory,
) -> None:
    """Any agent can write bytes into its bus file: they read as U+FFFD, never a 500."""
    server = server_factory()
    server.root.ensure_task_dir("p", "t")
    client = server.client()
    url = "/api/projects/p/tasks/t/messages"
    first = client.post(url, json={"body": "ok #"}).json()
    quoted = client.post(url, json={"body": "#", "meta": {"k": "a b #"}}).json()
    with open(server.root.task_bus("p", "t"), "r+b") as handle:
        data = handle.read()
        handle.seek(0)
        handle.write(data.replace(b"#", b"\xff"))
        handle.write(b"\xfe junk\n")
    second = client.post(url, json={"body": "after"}).json()
    for params in ({}, {"tail": 2}, {"after": first["msg_id"]}):
        response = client.get(url, params=params)
        assert response.status_code == 200, response.text
        got = response.json()["messages"]
        assert got[-1] == second
    got = client.get(url).json()["messages"]
    assert [m["msg_id"] for m in got] == [first["msg_id"], quoted["msg_id"], second["msg_id"]]
    assert got[0]["body"] == "ok \ufffd"
    assert got[1]["body"] == "\ufffd" and got[1]["meta"] == {"k": "a b \ufffd"}


def test_concurrent_posts_and_a_cli_poster_each_land_once_in_order(
    server_factory: ServerFactory, run_agent_exe: Path
) -> None:
    """Posts through the API are group-committed (bus.group): with ten clients posting at
    once and ``run-agent bus post`` appending from another process, every message is
    stored exactly once and whole, each poster's in the order it posted them."""
    server = server_factory("storage:\n  bus_fsync: true\n")
    server.root.ensure_task_dir("p", "t")
    bus = server.root.task_bus("p", "t")
    clients, per_client, cli_posts = 10, 40, 10
    failures: list[str] = []

    def post_all(name: str) -> None:
        client = server.client()
        for seq in range(per_client):
            url = "/api/projects/p/tasks/t/messages" if seq % 2 else "/api/v1/messages"
            body = {"body": f"{name}:{seq}", "meta": {"poster": name}}
            if not seq % 2:
                body |= {"project_id": "p", "task_id": "t"}
            response = client.post(url, json=body)
            if response.status_code != 201:
                failures.append(response.text)
                return

    cli = subprocess.Popen(
        [
            "/bin/sh",
            "-c",
            f'for i in $(seq 0 {cli_posts - 1}); do "$0" bus post --bus "$1" --project p '
            '--task t --type NOTE --body "cli:$i" || exit 1; done',
            str(run_agent_exe),
            str(bus),
        ],
        stderr=subprocess.PIPE,
    )
    threads = [threading.Thread(target=post_all, args=(f"c{i}",)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    _, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err.decode()
    assert failures == []
    messages = read_all(bus)
    assert len({m.msg_id for m in messages}) == len(messages) == clients * per_client + cli_posts
    order: dict[str, list[str]] = defaultdict(list)
    for msg in messages:
        order[msg.meta.get("poster", "cli")].append(msg.body)
    assert order.pop("cli") == [f"cli:{i}" for i in range(cli_posts)]
    assert order == {f"c{i}": [f"c{i}:{seq}" for seq in range(per_client)] for i in range(clients)}


def _bus_open_elsewhere(bus: Path) -> bool:
    """Whether a process other than this one has ``bus`` open: the server's writer,
    opening it for the append of a message it has queued."""
    me = str(os.getpid())
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if pid == me:
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(bus):
                    return True
    return False


def _raw_post(url: str, path: str, body: bytes) -> socket.socket:
    """A POST sent whole on a connection this test may close before the answer."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def test_a_client_gone_mid_commit_has_its_message_stored_once(
    server_factory: ServerFactory,
) -> None:
    """The POST handler awaits the group commit; a client that disconnects while the write
    covering its message waits for the lock neither loses nor duplicates it."""
    server = server_factory("storage:\n  bus_fsync: true\n")
    server.root.project_dir("p").mkdir(parents=True)
    bus = server.root.project_bus("p")
    held = HeldLock(bus)
    try:
        sock = _raw_post(server.url, "/api/projects/p/messages", b'{"body":"gone"}')
        wait_until(lambda: _bus_open_elsewhere(bus), 10, "the server's write waiting")
        sock.close()
    finally:
        held.release()
    wait_until(lambda: [m.body for m in read_all(bus)] == ["gone"], 10, "the message stored")
    client = server.client()
    response = client.post("/api/projects/p/messages", json={"body": "after"})
    assert response.status_code == 201, response.text
    assert [m.body for m in read_all(bus)] == ["gone", "after"]
    assert "Traceback" not in server.log_text()


def test_a_full_disk_answers_507_to_every_post_waiting_on_the_write(
    server_factory: ServerFactory, tmpfs: Tmpfs
) -> None:
    """Posts queued behind one write all get the storage error (none is stored)."""
    server = server_factory(root=RunsRoot.at(tmpfs.path / "runs"))
    server.root.project_dir("p").mkdir(parents=True)
    bus = server.root.project_bus("p")
    client = server.client()
    assert client.post("/api/projects/p/messages", json={"body": "before"}).status_code == 201
    size = bus.stat().st_size
    tmpfs.fill()
    held = HeldLock(bus)
    responses: list[httpx.Response] = []

    def post(seq: int) -> None:
        body = {"body": f"{seq}:" + "x" * 20_000}
        responses.append(server.client().post("/api/projects/p/messages", json=body))

    try:
        posters = [threading.Thread(target=post, args=(i,)) for i in range(5)]
        for thread in posters:
            thread.start()
        wait_until(lambda: _bus_open_elsewhere(bus), 10, "the server's write waiting")
    finally:
        held.release()
    for thread in posters:
        thread.join(30)
    assert len(responses) == 5
    for response in responses:
        assert response.status_code == 507, response.text
        error = response.json()["error"]
        assert error["code"] == "storage_full" and str(bus) in error["message"], error
    assert bus.stat().st_size == size
    tmpfs.free()
    assert client.post("/api/projects/p/messages", json={"body": "after"}).status_code == 201
    assert [m.body for m in read_all(bus)] == ["before", "after"]


def test_message_posts_keep_the_api_contract(server_factory: ServerFactory) -> None:
    """The posts answered before FastAPI (middleware.message_post): the same 201 body,
    and every error FastAPI gives (it answers them), counted under the route template."""
    server = server_factory("api:\n  max_body_bytes: 4096\n")
    server.root.ensure_task_dir("p", "t")
    client = server.client()
    created = client.post("/api/projects/p/tasks/t/messages", json={"body": "hi", "type": "NOTE"})
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/json"
    doc = created.json()
    assert set(doc) == set(MessageOut.model_fields)
    assert (doc["project_id"], doc["task_id"], doc["type"], doc["body"]) == ("p", "t", "NOTE", "hi")
    assert [m.msg_id for m in read_all(server.root.task_bus("p", "t"))] == [doc["msg_id"]]
    bus = {"project_id": "p", "task_id": "t", "body": "via v1"}
    assert client.post("/api/v1/messages", json=bus).status_code == 201

    def error(path: str, status: int, code: str, **kwargs: Any) -> str:
        response = client.post(path, **kwargs)
        assert response.status_code == status, response.text
        body = response.json()
        assert body["error"]["code"] == code, body
        message: str = body["error"]["message"]
        return message

    project = "/api/projects/p/messages"
    assert "Input should be a valid string" in error(
        project, 422, "validation_error", json={"body": 5}
    )
    assert "extra: Extra inputs are not permitted" in error(
        project, 422, "validation_error", json={"extra": "x"}
    )
    assert "JSON decode error" in error(
        project, 422, "validation_error", content=b"{not json", headers=JSON_HEADERS
    )
    assert "Field required" in error(project, 422, "validation_error", headers=JSON_HEADERS)
    assert "project_id" in error("/api/projects/.hid/messages", 400, "invalid_id", json={})
    assert "run_id" in error(project, 400, "invalid_id", json={"run_id": "../x"})
    mismatch = {"project_id": "q"}
    assert "differs from the path" in error(project, 400, "invalid_request", json=mismatch)
    assert "does not exist" in error("/api/projects/nope/messages", 404, "not_found", json={})
    assert "project_id is required" in error("/api/v1/messages", 400, "invalid_request", json={})
    error(project, 413, "payload_too_large", json={"body": "x" * 5000})
    assert client.post(project + "/", json={}).status_code == 404  # no such route
    assert len(read_all(server.root.task_bus("p", "t"))) == 2
    assert not server.root.project_bus("p").exists()

    metrics = client.get("/metrics").text
    for route, status, count in [
        ("/api/projects/{project_id}/tasks/{task_id}/messages", 201, 1),
        ("/api/v1/messages", 201, 1),
        ("/api/projects/{project_id}/messages", 422, 4),
        ("/api/projects/{project_id}/messages", 400, 3),
        ("/api/projects/{project_id}/messages", 404, 1),
        ("/api/v1/messages", 400, 1),
    ]:
        line = f'conductor_http_requests_total{{method="POST",route="{route}",status="{status}"}}'
        assert f"{line} {count}.0" in metrics, (line, metrics)
