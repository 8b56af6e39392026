"""A full or read-only runs root through the API (issue 10, L1): a clear 507 or 503 that
names the path and the cause, nothing half-made left behind, and a missing token file
reported as the configuration problem it is."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import ServerFactory, ServerProcess, seed_run, wait_task
from tests.api.test_tasks import agent_config, submit
from tests.fakes import fake_agents_config_text, install_fake_agents
from tests.support import Tmpfs, tree, wait_until

QUICK_TASK = "FAKE: write-done\n"


@pytest.fixture
def disk_server(server_factory: ServerFactory, tmpfs: Tmpfs, tmp_path: Path) -> ServerProcess:
    """A server whose runs root is on the test's small tmpfs (its log and config are not)."""
    return server_factory(agent_config(tmp_path / "bin"), root=RunsRoot.at(tmpfs.path / "runs"))


def storage_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    message: str = error["message"]
    return message


def test_create_on_a_full_disk_is_507_naming_the_path_and_leaves_nothing(
    disk_server: ServerProcess, tmpfs: Tmpfs
) -> None:
    client = disk_server.client()
    tmpfs.fill()
    message = storage_error(submit(client, task_id="t1", prompt=QUICK_TASK), 507, "storage_full")
    assert "No space left on device" in message
    assert str(disk_server.root.task_dir("proj", "t1") / "TASK.md") in message
    assert tree(disk_server.root.path) == []  # neither the task dir nor its project dir
    assert "Traceback" not in disk_server.log_text()


def test_a_failed_create_keeps_what_was_there_before(
    disk_server: ServerProcess, tmpfs: Tmpfs
) -> None:
    root = disk_server.root
    seed_run(root, "proj", "other", stdout="earlier work\n")
    others = tree(root.task_dir("proj", "other"))
    kept = root.task_dir("proj", "kept")
    kept.mkdir()
    (kept / "notes.txt").write_text("mine\n", encoding="utf-8")
    tmpfs.fill()
    response = submit(disk_server.client(), task_id="kept", prompt=QUICK_TASK)
    storage_error(response, 507, "storage_full")
    assert sorted(os.listdir(kept)) == ["notes.txt"]
    assert tree(root.task_dir("proj", "other")) == others


def test_a_create_whose_loop_cannot_start_removes_only_what_it_made(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory(agent_config(tmp_path / "bin"))
    task_dir = server.root.task_dir("proj", "broken")
    (task_dir / ".loop.json").mkdir(parents=True)  # the loop cannot record its state
    response = submit(server.client(), task_id="broken", prompt=QUICK_TASK)
    assert response.status_code == 500, response.text
    assert response.json()["error"]["code"] == "launch_failed"
    assert sorted(os.listdir(task_dir)) == [".loop.json"]


def test_create_on_a_read_only_disk_is_503_naming_the_path(
    disk_server: ServerProcess, tmpfs: Tmpfs
) -> None:
    tmpfs.read_only()
    response = submit(disk_server.client(), task_id="t1", prompt=QUICK_TASK)
    message = storage_error(response, 503, "storage_unwritable")
    assert "Read-only file system" in message
    assert str(disk_server.root.path / "proj") in message


def test_resume_on_a_full_disk_is_507_and_keeps_done(
    disk_server: ServerProcess, tmpfs: Tmpfs
) -> None:
    root = disk_server.root
    seed_run(root, "proj", "fin")
    done = root.task_dir("proj", "fin") / "DONE"
    done.write_text("finished\n", encoding="utf-8")
    client = disk_server.client()
    view = "/api/projects/proj/tasks/fin"
    wait_until(
        lambda: (r := client.get(view)).status_code == 200 and r.json()["done"],
        10,
        "the seeded task in the index",
    )
    tmpfs.fill()
    response = client.post("/api/projects/proj/tasks/fin/resume")
    message = storage_error(response, 507, "storage_full")
    assert "No space left on device" in message
    assert str(root.task_dir("proj", "fin")) in message
    assert done.read_text(encoding="utf-8") == "finished\n"


def test_resume_of_a_completed_task_runs_it_again(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    api = server_factory(agent_config(tmp_path / "bin")).api()
    created = api.submit_task("proj", QUICK_TASK, task_id="again")
    wait_task(api, "proj", "again", "completed")
    resumed = api.resume_task("proj", "again")
    assert resumed.run_id not in (None, created.run_id)
    view = wait_task(api, "proj", "again", "completed")
    assert [r.status for r in view.runs] == ["completed", "completed"]


def test_post_message_on_a_full_disk_is_507_and_the_bus_stays_whole(
    disk_server: ServerProcess, tmpfs: Tmpfs
) -> None:
    client = disk_server.client()
    disk_server.root.task_dir("proj", "new").mkdir(parents=True)  # no bus file yet
    first = client.post("/api/projects/proj/messages", json={"body": "before the disk filled"})
    assert first.status_code == 201, first.text
    bus = disk_server.root.project_bus("proj")
    size = bus.stat().st_size
    tmpfs.fill()
    # Bigger than the room left in the bus file's last block: it would be cut off there.
    big = client.post("/api/projects/proj/messages", json={"body": "x" * 20_000})
    message = storage_error(big, 507, "storage_full")
    assert str(bus) in message and "No space left on device" in message
    assert bus.stat().st_size == size  # no torn record
    fresh = client.post("/api/projects/proj/tasks/new/messages", json={"body": "hello"})
    storage_error(fresh, 507, "storage_full")
    listed = client.get("/api/projects/proj/messages").json()["messages"]
    assert [m["body"] for m in listed] == ["before the disk filled"]


def test_a_missing_token_file_is_400_naming_the_agent_and_the_file(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    bin_dir = install_fake_agents(tmp_path / "bin")
    missing = tmp_path / "no-such-token"
    config = fake_agents_config_text(bin_dir, agents=("claude",), token_file=missing)
    server = server_factory(config)
    response = submit(server.client(), task_id="t1", prompt=QUICK_TASK)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "config_invalid"
    assert "claude" in error["message"] and str(missing) in error["message"]
    assert "No such file or directory" in error["message"]
    assert tree(server.root.path) == []
