"""The in-memory index follows the disk: other processes' changes show up (how fast: bench)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conductor_loop.orchestration.index import Index
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import read_run_info, write_run_info
from tests.api.helpers import ServerFactory, seed_run
from tests.support import wait_until

_WRITER = """
import sys
sys.path.insert(0, {tests!r})
from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import seed_run
root = RunsRoot.at(sys.argv[1])
owner = int(sys.argv[5])  # a live process, so that liveness keeps a running run running
run_dir = seed_run(root, sys.argv[2], sys.argv[3], status=sys.argv[4], pid=owner, runner_pid=owner)
print(run_dir.name)
"""


def _write_run_in_other_process(root: RunsRoot, project: str, task: str, status: str) -> str:
    code = _WRITER.format(tests=str(Path(__file__).resolve().parents[2]))
    result = subprocess.run(
        [sys.executable, "-c", code, str(root.path), project, task, status, str(os.getpid())],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def _run_ids(client: object, **params: str) -> set[str]:
    response = client.get("/api/v1/runs", params=params)  # type: ignore[attr-defined]
    return {r["run_id"] for r in response.json()["runs"]}


def test_changes_by_another_process_appear_in_the_index(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    root = RunsRoot.at(tmp_path / "runs")
    existing = seed_run(root, "old", "t", status="completed").name
    server = server_factory(root=root)
    client = server.client()
    assert _run_ids(client) == {existing}

    # How fast a change shows is measured by bench/sse_bench.py; here only that it does.
    run_id = _write_run_in_other_process(root, "newproj", "task-a", "running")
    wait_until(lambda: run_id in _run_ids(client), 30, "new run in the list")
    assert client.get(f"/api/v1/runs/{run_id}").json()["status"] == "running"
    projects = {p["project_id"] for p in client.get("/api/projects").json()["projects"]}
    assert projects == {"old", "newproj"}

    run_dir = root.run_dir("newproj", "task-a", run_id)
    info = read_run_info(run_dir)
    info.status, info.exit_code = "failed", 1
    write_run_info(run_dir, info, fsync=False)
    wait_until(lambda: run_id in _run_ids(client, status="failed"), 30, "status change in the list")
    # A run created and finished before the server looked is indexed as finished.
    quick = _write_run_in_other_process(root, "newproj", "task-b", "completed")
    wait_until(lambda: quick in _run_ids(client, status="completed"), 30, "finished new run")

    (root.task_dir("newproj", "task-a") / "DONE").touch()
    wait_until(
        lambda: client.get("/api/projects/newproj/tasks/task-a").json()["done"], 30, "DONE seen"
    )

    shutil.rmtree(run_dir)
    wait_until(lambda: run_id not in _run_ids(client), 30, "deleted run gone from the list")
    assert client.get(f"/api/v1/runs/{run_id}").status_code == 404

    shutil.rmtree(root.project_dir("old"))
    wait_until(
        lambda: client.get("/api/projects/old").status_code == 404, 30, "deleted project gone"
    )


def test_rescan_repairs_what_notification_missed(runs_root: RunsRoot) -> None:
    kept = seed_run(runs_root, "p", "t").name
    gone = seed_run(runs_root, "p", "t").name
    index = Index(runs_root)
    index.build()
    assert {e.info.run_id for e in index.runs()} == {kept, gone}
    shutil.rmtree(runs_root.run_dir("p", "t", gone))
    added = seed_run(runs_root, "q", "u", status="running").name
    changed_dir = runs_root.run_dir("p", "t", kept)
    info = read_run_info(changed_dir)
    info.status = "failed"
    write_run_info(changed_dir, info, fsync=False)
    keys = index.rescan()
    assert {e.info.run_id for e in index.runs()} == {kept, added}
    assert index.run(kept) is not None and index.run(kept).info.status == "failed"  # type: ignore[union-attr]
    assert f"run:{added}" in keys and f"run:{gone}" in keys
    assert index.rescan() == set()  # nothing changed: nothing reported


def test_list_filters_and_pagination(server_factory: ServerFactory, tmp_path: Path) -> None:
    root = RunsRoot.at(tmp_path / "runs")
    ids = [seed_run(root, "p", f"t{i % 2}", status="completed").name for i in range(6)]
    failed = seed_run(root, "p", "t0", status="failed").name
    server = server_factory(root=root)
    client = server.client()
    page = client.get("/api/v1/runs", params={"limit": 3, "offset": 1}).json()
    assert page["total"] == 7 and page["limit"] == 3 and page["offset"] == 1
    newest_first = [failed, *reversed(ids)]
    assert [r["run_id"] for r in page["runs"]] == newest_first[1:4]
    by_task = client.get("/api/v1/runs", params={"project_id": "p", "task_id": "t1"}).json()
    assert {r["run_id"] for r in by_task["runs"]} == set(ids[1::2])
    only_failed = client.get("/api/v1/runs", params={"status": "failed"}).json()
    assert [r["run_id"] for r in only_failed["runs"]] == [failed]
    task_runs = client.get("/api/projects/p/tasks/t0/runs").json()
    assert task_runs["total"] == 4


def test_running_run_whose_owner_is_gone_reads_as_failed(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    root = RunsRoot.at(tmp_path / "runs")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = seed_run(root, "p", "t", status="running", pid=dead.pid, runner_pid=dead.pid)
    swept = seed_run(root, "p", "t2", status="running", pid=dead.pid, runner_pid=dead.pid)
    server = server_factory(root=root)
    client = server.client()
    detail = client.get(f"/api/v1/runs/{orphan.name}").json()
    assert detail["status"] == "failed"
    assert detail["error_summary"]
    assert read_run_info(orphan).status == "failed"  # persisted, not only shown
    # The periodic sweep reconciles runs nobody asked about.
    wait_until(lambda: swept.name in _run_ids(client, status="failed"), 5.0, "sweep to reconcile")


@pytest.fixture(params=["inotify", "watchfiles"])
def watch_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each watcher test on both watches: inotify (Linux) and watchfiles (elsewhere)."""
    if request.param == "watchfiles":
        monkeypatch.setattr("conductor_loop.api.watcher.inotify.available", lambda: False)
    return str(request.param)


def test_a_change_before_the_first_watch_shows_without_a_rescan(
    runs_root: RunsRoot, watch_backend: str
) -> None:
    """Runs created between the start-up walk and the first watch are read once the watch
    is in place; periodic rescans are off."""
    from conductor_loop.api.watcher import RootWatcher

    seed_run(runs_root, "p", "t", status="completed")
    index = Index(runs_root)
    index.build()
    late = seed_run(runs_root, "p", "t", status="completed").name
    other_task = seed_run(runs_root, "p", "new-task", status="completed").name
    watcher = RootWatcher(index, rescan_interval=3600, sweep_interval=3600)
    watcher.start()
    try:
        assert watcher.wait_ready(30)
        wait_until(lambda: index.run(late) is not None, 30, "the run created before the watch")
        wait_until(lambda: index.run(other_task) is not None, 30, "the task created before it")
    finally:
        watcher.stop()


def test_runs_show_when_the_tasks_runs_dir_appears_after_the_task(
    runs_root: RunsRoot, watch_backend: str
) -> None:
    """A task directory seen before its ``runs/`` exists (another replica created the
    two a moment apart): the runs created in it later still show. Rescans and sweeps are
    off, so only the watch can show them (how fast is bench/sse_bench.py's concern)."""
    from conductor_loop.api.watcher import RootWatcher

    seed_run(runs_root, "p", "old", status="completed")
    index = Index(runs_root)
    index.build()
    watcher = RootWatcher(index, rescan_interval=3600, sweep_interval=3600)
    watcher.start()
    try:
        assert watcher.wait_ready(30)
        task_dir = runs_root.task_dir("p", "late-runs")
        task_dir.mkdir()
        (task_dir / "TASK.md").write_text("a task\n", encoding="utf-8")
        wait_until(lambda: index.task("p", "late-runs") is not None, 30, "task")
        time.sleep(0.3)  # the watcher has settled on the task directory (no runs/ yet)
        (task_dir / "runs").mkdir()
        time.sleep(0.3)  # ... and has seen runs/ appear, empty
        run_id = _write_run_in_other_process(runs_root, "p", "late-runs", "running")
        wait_until(lambda: index.run(run_id) is not None, 30, "run in the index")
    finally:
        watcher.stop()


def test_a_loop_that_ended_since_the_last_sweep_shows_at_once(runs_root: RunsRoot) -> None:
    """``loop_active`` is refreshed every sweep; between sweeps the task's lock decides,
    except for a loop this server just launched (it may not hold its lock yet)."""
    seed_run(runs_root, "p", "t", status="completed")
    (runs_root.task_dir("p", "t") / "DONE").touch()
    held = {"lock": True}
    index = Index(runs_root, loop_probe=lambda _task_dir: held["lock"])
    index.build()
    index.set_loop_active({("p", "t"): True})
    task = index.task("p", "t")
    assert task is not None
    assert index.task_status(task) == "running"  # the loop is finishing (lock held)
    held["lock"] = False
    assert index.task_status(task) == "completed"  # ended: no need to wait for a sweep
    index.mark_launched("p", "t")
    assert index.task_status(task) == "running"  # launched, lock not taken yet
    new_run = seed_run(runs_root, "p", "t", status="completed")
    index.apply([str(new_run)])
    assert index.task_status(task) == "completed"  # its first run came: the lock decides


def test_no_change_is_lost_while_the_watch_is_re_created(
    runs_root: RunsRoot, watch_backend: str
) -> None:
    """Runs starting and ending elsewhere change the set of watched directories all the
    time (as with several replicas); runs created meanwhile must still show. Rescans are
    off, so a run the watch missed would never show."""
    import threading

    from conductor_loop.api.watcher import RootWatcher

    for i in range(150):
        seed_run(runs_root, "p", f"bulk-{i}")
    seed_run(runs_root, "p", "quiet")
    index = Index(runs_root)
    index.build()
    watcher = RootWatcher(index, rescan_interval=3600, sweep_interval=3600)
    watcher.start()
    assert watcher.wait_ready(5)
    stop = threading.Event()

    def churn() -> None:  # a run starts, then ends: two changes of the watched set
        while not stop.is_set():
            run_dir = seed_run(runs_root, "p", "churn", status="running")
            time.sleep(0.002)
            info = read_run_info(run_dir)
            info.status = "completed"
            write_run_info(run_dir, info, fsync=False)
            time.sleep(0.002)

    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    try:
        for i in range(100):
            run_id = seed_run(runs_root, "p", "quiet").name
            wait_until(lambda rid=run_id: index.run(rid) is not None, 30, f"new run {i}")
    finally:
        stop.set()
        churner.join(5)
        watcher.stop()


def test_lookups_by_id_find_what_another_process_just_created(runs_root: RunsRoot) -> None:
    """A run or task another worker or replica created a moment ago, before this index's
    watch has reported it: a lookup by id reads it from disk rather than answering 404
    (a stop sent through another worker right after the start was refused)."""
    seed_run(runs_root, "p", "old", status="completed")
    index = Index(runs_root)
    index.build()  # complete, and nothing watches the disk here
    assert index.complete
    fresh = seed_run(runs_root, "p", "fresh", status="running")
    in_new_project = seed_run(runs_root, "q", "other", status="completed")
    found = index.run(fresh.name)
    assert found is not None and found.info.task_id == "fresh"
    assert index.task("q", "other") is not None
    assert index.has_project("q")
    assert index.run(in_new_project.name) is not None
    assert index.run("20990101-0000000000-1-1") is None  # absent stays absent
    assert index.task("p", "missing") is None
    # Event streams ask without the disk walk (once per change and client, on the loop).
    unseen = seed_run(runs_root, "p", "fresh", status="completed").name
    assert index.run(unseen, find_on_disk=False) is None
    assert index.run(fresh.name, find_on_disk=False) is not None  # indexed by the lookup above


def test_the_change_log_answers_from_any_point_it_still_reaches(tmp_path: Path) -> None:
    """``changes_since``: each changed run once, oldest first, for any sequence number the
    log (here 3 changes long) still reaches; None for one it no longer reaches."""
    root = RunsRoot.at(tmp_path / "runs")
    index = Index(root, change_log_size=3)
    index.build()
    assert index.changes_since(0) == ([], 0)
    runs = [seed_run(root, "p", "t").name for _ in range(2)]
    index.rescan()
    assert index.changes_since(0) == (runs, 2)
    assert index.changes_since(1) == (runs[1:], 2)
    assert index.changes_since(2) == ([], 2)
    assert index.changes_since(3) == (None, 2)  # from a sequence it never had
    info = read_run_info(root.run_dir("p", "t", runs[0]))
    info.status = "failed"
    write_run_info(root.run_dir("p", "t", runs[0]), info)
    third = seed_run(root, "p", "t").name
    index.rescan()
    seq = index.seq
    assert seq == 4 and sorted(index.changes_since(2)[0] or []) == sorted([runs[0], third])
    assert index.changes_since(1) == ([runs[1], *index.changes_since(2)[0]], 4)  # type: ignore[misc]
    assert index.changes_since(0) == (None, 4)  # seq 1 has left the log


def test_indexed_runs_share_what_they_can_and_read_back_whole(tmp_path: Path) -> None:
    """The index keeps each run small (idle memory at 10,000s of runs, bench/startup):
    its pgid is its pid's int, its empty ``extra`` one shared mapping, which nothing can
    write through; every field still reads back as on disk."""
    root = RunsRoot.at(tmp_path / "runs")
    dirs = [seed_run(root, "p", "t", pid=40001 + i, pgid=40001 + i) for i in range(2)]
    index = Index(root)
    index.build()
    entries = [index.run(d.name) for d in dirs]
    for entry, run_dir in zip(entries, dirs, strict=True):
        assert entry is not None
        assert entry.info.to_dict() == read_run_info(run_dir).to_dict()
        assert entry.info.pgid is entry.info.pid
    first, second = (e.info for e in entries if e is not None)
    assert first.extra is second.extra and not first.extra
    with pytest.raises(TypeError):
        first.extra["key"] = "value"
