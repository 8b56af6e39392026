"""Reading a bus over HTTP: all, the last N, after an id, and paging back before one,
at both the core and the project-centric routes."""

from __future__ import annotations

from conductor_loop.bus import BusWriter, Message
from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import ServerFactory


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
