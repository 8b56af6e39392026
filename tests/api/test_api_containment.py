"""Symlinks inside the runs root are refused by every route (spec §3: none in the tree).

A file outside the root holds a marker; links to it (or to a directory outside the root)
are planted where the API reads or writes, and no response may carry the marker nor any
file outside the root change.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import (
    ServerFactory,
    ServerProcess,
    seed_run,
    start_server,
    wait_indexed,
    wait_task,
    write_config,
)
from tests.api.test_sse import StreamReader
from tests.api.test_tasks import agent_config, submit
from tests.support import tree, wait_until

MARKER = "MARKER-outside-root-5d1c"


def _refused(response: httpx.Response, link: Path) -> None:
    assert response.status_code == 403, (response.status_code, response.text)
    assert MARKER not in response.text
    error = response.json()["error"]
    assert error["code"] == "path_outside_root", error
    assert str(link) in error["message"], error


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """A server over runs whose files are links to a secret outside the root."""
    tmp = tmp_path_factory.mktemp("contain")
    secret = tmp / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(f"{MARKER} line one\n{MARKER} line two\n", encoding="utf-8")
    root = RunsRoot.at(tmp / "runs")
    root.path.mkdir()
    for name in ("output.md", "agent-stdout.txt", "agent-stderr.txt", "prompt.md", "info"):
        run_dir = seed_run(root, "p", "t", run_id=f"run-{name.replace('.', '-')}", stdout="ok\n")
        if name != "info":
            (run_dir / name).unlink(missing_ok=True)
            (run_dir / name).symlink_to(secret)
    seed_run(root, "p", "linked-task")
    for name in ("TASK.md", "TASK_STATE.md"):
        (root.task_dir("p", "linked-task") / name).unlink(missing_ok=True)
        (root.task_dir("p", "linked-task") / name).symlink_to(secret)
    config = write_config(tmp / "config.yaml")
    server = start_server(root, config, tmp / "server.log")
    wait_indexed(server)
    # Swapped in once the run is indexed (as an agent could do to its own run).
    info = root.run_dir("p", "t", "run-info") / "run-info.yaml"
    info.unlink()
    info.symlink_to(secret)
    yield server, secret
    server.stop()


RUN_FILE_ROUTES = [
    ("output.md", "file?name=output.md"),
    ("output.md", "file?name=output"),
    ("agent-stdout.txt", "file?name=stdout"),
    ("agent-stderr.txt", "file?name=stderr"),
    ("prompt.md", "file?name=prompt"),
    ("agent-stdout.txt", "stream?streams=stdout"),
    ("agent-stderr.txt", "stream?streams=stderr"),
]


@pytest.mark.parametrize(("name", "route"), RUN_FILE_ROUTES)
def test_run_file_routes_refuse_a_symlinked_file(
    planted: tuple[ServerProcess, Path], name: str, route: str
) -> None:
    server, _secret = planted
    run_id = f"run-{name.replace('.', '-')}"
    link = server.root.run_dir("p", "t", run_id) / name
    client = server.client()
    _refused(client.get(f"/api/projects/p/tasks/t/runs/{run_id}/{route}"), link)
    if route.startswith("stream"):
        _refused(client.get(f"/api/v1/runs/{run_id}/{route}"), link)


def test_a_stream_ends_when_its_file_becomes_a_symlink(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("".join(f"{MARKER} {i}\n" for i in range(50)), encoding="utf-8")
    root = RunsRoot.at(tmp_path / "runs")
    root.path.mkdir()
    run_dir = seed_run(root, "p", "t", status="running", run_id="live", stdout="first\n")
    server = server_factory(root=root)
    client = server.client()
    stream = StreamReader(client, "/api/v1/runs/live/stream?streams=stdout")
    assert stream.next("log")["data"]["line"] == "first"
    stdout = run_dir / "agent-stdout.txt"
    stdout.unlink()
    stdout.symlink_to(secret)
    seen, ended = [], ""
    try:
        while len(seen) < 20:
            seen.append(stream.next(timeout=10))
    except AssertionError as exc:
        ended = str(exc)
    stream.close()
    assert MARKER not in str(seen)
    assert ended == "stream ended", seen
    _refused(client.get("/api/v1/runs/live/stream?streams=stdout"), stdout)


def test_run_detail_does_not_follow_symlinked_files(planted: tuple[ServerProcess, Path]) -> None:
    server, secret = planted
    response = server.client().get("/api/v1/runs/run-output-md")
    assert response.status_code == 200, response.text
    assert "output.md" not in response.json()["files"]  # the link, not its target's size
    assert secret.stat().st_size not in response.json()["files"].values()


def test_raw_run_info_refuses_a_symlinked_run_info(planted: tuple[ServerProcess, Path]) -> None:
    server, _secret = planted
    link = server.root.run_dir("p", "t", "run-info") / "run-info.yaml"
    _refused(server.client().get("/api/v1/runs/run-info/info"), link)
    listed = server.client().get("/api/v1/runs").text
    assert MARKER not in listed


@pytest.mark.parametrize("name", ["TASK.md", "TASK_STATE.md"])
def test_task_file_route_refuses_a_symlinked_file(
    planted: tuple[ServerProcess, Path], name: str
) -> None:
    server, _secret = planted
    link = server.root.task_dir("p", "linked-task") / name
    _refused(server.client().get(f"/api/projects/p/tasks/linked-task/file?name={name}"), link)


@pytest.fixture
def linked_dirs(tmp_path: Path) -> tuple[RunsRoot, Path]:
    """A runs root with project ``evil`` and task ``p/evil-task`` linked to ``outside``."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "PROJECT-MESSAGE-BUS.md").write_text(
        f"---\nmsg_id: MSG-1\nts: 2026-01-01T00:00:00Z\ntype: INFO\nproject_id: evil\n---\n"
        f"{MARKER}\n",
        encoding="utf-8",
    )
    root = RunsRoot.at(tmp_path / "runs")
    root.path.mkdir()
    seed_run(root, "p", "t")
    (root.path / "evil").symlink_to(outside, target_is_directory=True)
    (root.project_dir("p") / "evil-task").symlink_to(outside, target_is_directory=True)
    return root, outside


def test_messages_into_a_symlinked_project_or_task_are_refused(
    server_factory: ServerFactory, linked_dirs: tuple[RunsRoot, Path]
) -> None:
    root, outside = linked_dirs
    before = {p: p.read_bytes() for p in outside.iterdir()}
    server = server_factory(root=root)
    client = server.client()
    project_link = root.path / "evil"
    task_link = root.project_dir("p") / "evil-task"
    post = {"type": "INFO", "body": "hello"}
    _refused(client.post("/api/projects/evil/messages", json=post), project_link)
    _refused(client.post("/api/v1/messages", json={**post, "project_id": "evil"}), project_link)
    _refused(client.post("/api/projects/p/tasks/evil-task/messages", json=post), task_link)
    _refused(client.get("/api/projects/evil/messages"), project_link)
    _refused(client.get("/api/v1/messages?project_id=evil&tail=5"), project_link)
    _refused(client.get("/api/v1/messages/stream?project_id=evil"), project_link)
    _refused(client.get("/api/projects/p/tasks/evil-task/messages"), task_link)
    assert {p: p.read_bytes() for p in outside.iterdir()} == before
    assert client.get("/api/projects/evil").status_code == 404


def test_a_task_dir_replaced_by_a_symlink_after_posts_refuses_the_next_post(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """The server remembers a bus by its ids, and keeps its file open between posts; the
    task's directory moved out and linked back in is still refused at the next post."""
    root = RunsRoot.at(tmp_path / "runs")
    root.path.mkdir()
    seed_run(root, "p", "t")
    client = server_factory(root=root).client()
    post = {"type": "INFO", "body": "before"}
    for _ in range(2):
        assert client.post("/api/projects/p/tasks/t/messages", json=post).status_code == 201
    task_dir = root.task_dir("p", "t")
    moved = tmp_path / "outside-t"
    task_dir.rename(moved)
    task_dir.symlink_to(moved, target_is_directory=True)
    bus_before = (moved / "TASK-MESSAGE-BUS.md").read_bytes()
    response = client.post("/api/projects/p/tasks/t/messages", json={**post, "body": "after"})
    _refused(response, task_dir)
    assert (moved / "TASK-MESSAGE-BUS.md").read_bytes() == bus_before


def test_symlinked_dirs_appearing_later_are_not_indexed(
    server_factory: ServerFactory, linked_dirs: tuple[RunsRoot, Path]
) -> None:
    root, outside = linked_dirs
    seed_run(root, "theirs", "t")
    target = outside.parent / "outside-project"
    target.mkdir()
    server = server_factory(root=root)
    client = server.client()
    (root.path / "late-link").symlink_to(outside.parent / "runs" / "theirs")
    (root.project_dir("p") / "late-task").symlink_to(root.task_dir("theirs", "t"))
    seed_run(root, "late-real", "t")
    wait_until(
        lambda: "late-real" in str(client.get("/api/projects").json()),
        10,
        "the real project to be indexed",
    )
    projects = [p["project_id"] for p in client.get("/api/projects").json()["projects"]]
    assert "late-link" not in projects and "evil" not in projects, projects
    tasks = [t["task_id"] for t in client.get("/api/v1/tasks?project_id=p").json()["tasks"]]
    assert tasks == ["t"], tasks


def test_task_into_a_symlinked_project_is_refused_and_starts_no_agent(
    server_factory: ServerFactory, linked_dirs: tuple[RunsRoot, Path], tmp_path: Path
) -> None:
    root, outside = linked_dirs
    server = server_factory(agent_config(tmp_path / "bin"), root=root)
    client = server.client()
    started = tmp_path / "agent-started"
    before = tree(outside)
    for project, task, link in (
        ("evil", "t1", root.path / "evil"),
        ("p", "evil-task", root.project_dir("p") / "evil-task"),
    ):
        response = submit(client, project_id=project, task_id=task, prompt=f"FAKE: touch {started}")
        _refused(response, link)
    assert tree(outside) == before
    assert not started.exists()
    assert not list(tmp_path.glob("**/runner.log"))


def test_an_agent_cannot_read_outside_files_through_links_in_its_run_folder(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{MARKER}\n", encoding="utf-8")
    ready, go = tmp_path / "ready", tmp_path / "go"
    server = server_factory(agent_config(tmp_path / "bin"), root=RunsRoot.at(tmp_path / "runs"))
    client = server.client()
    prompt = (
        f'FAKE: run ln -s {secret} "$JRUN_RUN_FOLDER/output.md"\n'
        f"FAKE: touch {ready}\n"
        f"FAKE: wait-file {go} 30\n"
        f'FAKE: run ln -sf {secret} "$JRUN_RUN_FOLDER/agent-stdout.txt"\n'
        "FAKE: no-result\n"
        "FAKE: write-done\n"
    )
    created = submit(client, task_id="sneaky", prompt=prompt)
    assert created.status_code == 201, created.text
    run_id = created.json()["run_id"]
    wait_until(ready.exists, 20, "the agent to plant its link")
    link = server.root.run_dir("proj", "sneaky", run_id) / "output.md"
    _refused(client.get(f"/api/projects/proj/tasks/sneaky/runs/{run_id}/file"), link)
    go.touch()
    wait_task(server.api(), "proj", "sneaky", "completed")
    # The runner neither copied the secret into output.md nor kept the agent's link.
    output = client.get(f"/api/projects/proj/tasks/sneaky/runs/{run_id}/file")
    assert output.status_code == 200, output.text
    assert MARKER not in output.text
    assert not os.path.islink(link)
    for path in (f"/api/v1/runs/{run_id}", "/api/projects/proj/tasks/sneaky/messages"):
        assert MARKER not in client.get(path).text
