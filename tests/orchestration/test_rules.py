"""The rules every new task passes, as plain functions over a tmp runs root."""

from __future__ import annotations

import json

import pytest

from conductor_loop.errors import ConflictError, InvalidIdError, InvalidRequestError, NotFoundError
from conductor_loop.orchestration.errors import DependencyCycleError
from conductor_loop.orchestration.index import QUEUED_FILE
from conductor_loop.orchestration.queue import (
    LoopSettings,
    claim,
    waiting_on_disk,
    write_marker,
)
from conductor_loop.orchestration.rules import (
    HINT_CLI,
    check_admission,
    check_cycle,
    new_task,
    pending_dependencies,
)
from conductor_loop.storage.layout import DONE_FILE, TASK_FILE, RunsRoot


def test_new_task_generates_the_id_from_the_first_line_and_cleans_depends_on() -> None:
    spec = new_task("p", None, "\n  Fix the parser\nthen more", ["a", "b", "a"])
    assert spec.task_id.startswith("task-") and spec.task_id.endswith("-fix-the-parser")
    assert spec.depends_on == ("a", "b")
    assert new_task("p", "given", None).task_id == "given"  # a prepared task: no prompt


def test_new_task_refuses_bad_input() -> None:
    with pytest.raises(InvalidRequestError, match="prompt is empty"):
        new_task("p", "t", " \n")
    with pytest.raises(InvalidIdError, match="task_id"):
        new_task("p", "../t", "x")
    with pytest.raises(InvalidIdError, match="depends_on"):
        new_task("p", "t", "x", ["a/b"])
    with pytest.raises(DependencyCycleError, match="cannot depend on itself"):
        new_task("p", "t", "x", ["t"])


def test_a_dependency_cycle_through_waiting_tasks_is_named() -> None:
    waiting = {"b": ("c",), "c": ("new",), "x": ("unknown",)}
    with pytest.raises(DependencyCycleError, match="cycle: new -> b -> c -> new"):
        check_cycle("new", ["x", "b"], waiting)
    check_cycle("new", ["x", "unknown"], waiting)  # waiting on unknown tasks is no cycle
    check_cycle("new", [], waiting)


def test_an_existing_task_is_not_silently_re_prompted(runs_root: RunsRoot) -> None:
    root = runs_root
    check_admission(root, "p", "new", prompt=True)  # nothing there: fine
    task_dir = root.ensure_task_dir("p", "t")
    (task_dir / TASK_FILE).write_text("old\n")
    check_admission(root, "p", "t", prompt=False)  # prepared: its loop may start it
    with pytest.raises(ConflictError, match=r"task p/t already exists \(a TASK.md\): resume"):
        check_admission(root, "p", "t", prompt=True)
    run_dir = root.run_dir("p", "t", "20260101-0000000000-1")
    run_dir.mkdir(parents=True)
    (task_dir / DONE_FILE).touch()
    with pytest.raises(ConflictError, match=r"\(1 run\(s\), DONE\): --resume continues"):
        check_admission(root, "p", "t", prompt=False, hint=HINT_CLI)
    check_admission(root, "p", "t", prompt=False, reopen=True)
    check_admission(root, "p", "t", prompt=True, replace=True)
    (root.ensure_task_dir("p", "done-only") / DONE_FILE).touch()
    with pytest.raises(ConflictError, match=r"\(DONE\)"):
        check_admission(root, "p", "done-only", prompt=True)
    with pytest.raises(NotFoundError, match="nothing to resume"):
        check_admission(root, "p", "done-only", prompt=False, reopen=True)


def test_pending_dependencies_are_those_not_done_unknown_included(runs_root: RunsRoot) -> None:
    (runs_root.ensure_task_dir("p", "done") / DONE_FILE).touch()
    runs_root.ensure_task_dir("p", "failed")
    assert pending_dependencies(runs_root, "p", ["done", "failed", "unknown"]) == [
        "failed",
        "unknown",
    ]


def test_queue_markers_round_trip_and_tolerate_hand_edits(runs_root: RunsRoot) -> None:
    settings = LoopSettings(agent="claude", timeout=5.0, depends_on=("a",), max_tokens=9)
    task_dir = runs_root.ensure_task_dir("p", "t")
    write_marker(runs_root, task_dir, settings, seq=3)
    marker = json.loads((task_dir / QUEUED_FILE).read_text())
    assert marker["seq"] == 3 and marker["queued_at"] and "resume" not in marker
    assert LoopSettings.from_marker(marker) == settings
    assert waiting_on_disk(runs_root, "p") == {"t": ("a",)}
    edited = {"agent": 7, "timeout": "5m", "max_tokens": True, "depends_on": "a", "resume": 1}
    assert LoopSettings.from_marker(edited) == LoopSettings()
    claimed = claim(task_dir)
    assert claimed is not None and not (task_dir / QUEUED_FILE).exists()
    assert claim(task_dir) is None  # only one process can take it
