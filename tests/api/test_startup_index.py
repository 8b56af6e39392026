"""Start-up: the server answers at once and indexes the runs root in the background.

Until the index is complete, lists say they are ``partial`` (body field and the
``X-Index-Partial`` header) while lookups by id still find everything on disk; then the
flag clears and the counts are whole. The index is held back deterministically with
``CONDUCTOR_TEST_INDEX_HOLD`` (the walk waits until that file exists).
"""

from __future__ import annotations

from pathlib import Path

from bench.gen_runs import generate
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import iso_utc, read_run_info, write_run_info
from tests.api.helpers import ServerFactory, seed_run, server_env
from tests.support import wait_until

RUNS = 240  # over 3 projects × 4 tasks


def test_healthy_and_findable_while_indexing_then_lists_complete(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    root = RunsRoot.at(tmp_path / "runs")
    ids = generate(root.path, RUNS, projects=3, tasks=4)
    hold = tmp_path / "index-may-go"
    server = server_factory(root=root, env=server_env(CONDUCTOR_TEST_INDEX_HOLD=str(hold)))
    client = server.client()

    assert client.get("/api/v1/health").json() == {"status": "ok"}
    listed = client.get("/api/v1/runs", params={"limit": 10})
    assert listed.status_code == 200
    assert listed.headers["X-Index-Partial"] == "true"
    assert listed.json()["partial"] is True
    for url in ("/api/v1/tasks", "/api/projects", "/api/projects/project-01/tasks"):
        response = client.get(url)
        assert response.status_code == 200, (url, response.text)
        assert response.json()["partial"] is True, url
        assert response.headers["X-Index-Partial"] == "true", url
    assert client.get("/api/v1/status").json()["partial"] is True

    # Lookups by id read what the index has not reached from disk.
    run = client.get(f"/api/v1/runs/{ids[100]}")
    assert run.status_code == 200, run.text
    assert run.json()["run_id"] == ids[100]
    task_id = run.json()["task_id"]
    project_id = run.json()["project_id"]
    task = client.get(f"/api/projects/{project_id}/tasks/{task_id}")
    assert task.status_code == 200, task.text
    assert client.get(f"/api/v1/tasks/{task_id}", params={"project_id": project_id}).is_success
    assert client.get("/api/projects/project-02").status_code == 200
    assert client.get("/api/v1/runs/no-such-run").status_code == 404

    hold.touch()
    wait_until(
        lambda: client.get("/api/v1/runs", params={"limit": 1}).json()["partial"] is False,
        20,
        "the index to complete",
    )
    complete = client.get("/api/v1/runs")
    assert "X-Index-Partial" not in complete.headers
    body = complete.json()
    assert body["total"] == RUNS and body["partial"] is False
    assert sorted(r["run_id"] for r in body["runs"]) == sorted(ids)
    projects = client.get("/api/projects").json()
    assert projects["partial"] is False
    assert [p["run_count"] for p in projects["projects"]] == [80, 80, 80]
    tasks = client.get("/api/v1/tasks").json()
    assert (tasks["total"], tasks["partial"]) == (12, False)
    status = client.get("/api/v1/status").json()
    assert status["partial"] is False and sum(status["runs_by_status"].values()) == RUNS


def test_lookups_while_indexing_see_what_changed_since_they_were_first_read(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """Nothing watches the disk until the walk is done: a task or run read once during
    the walk must not be served from that first read afterwards."""
    root = RunsRoot.at(tmp_path / "runs")
    first = seed_run(root, "p", "t", status="running").name
    hold = tmp_path / "index-may-go"
    server = server_factory(root=root, env=server_env(CONDUCTOR_TEST_INDEX_HOLD=str(hold)))
    client = server.client()
    task_url = "/api/projects/p/tasks/t"
    assert [r["run_id"] for r in client.get(task_url).json()["runs"]] == [first]
    assert client.get(f"/api/v1/runs/{first}").json()["status"] == "running"

    run_dir = root.run_dir("p", "t", first)
    info = read_run_info(run_dir)
    info.status, info.exit_code, info.end_time = "completed", 0, iso_utc()
    write_run_info(run_dir, info, fsync=False)
    second = seed_run(root, "p", "t").name

    assert client.get("/api/v1/status").json()["partial"] is True
    assert sorted(r["run_id"] for r in client.get(task_url).json()["runs"]) == sorted(
        [first, second]
    )
    assert client.get(f"/api/v1/runs/{first}").json()["status"] == "completed"
    hold.touch()
