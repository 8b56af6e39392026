"""``RunsRoot``: every path method validates ids, so no id can leave the runs root."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conductor_loop.errors import InvalidIdError
from conductor_loop.storage.layout import RunsRoot, resolve_runs_root
from tests.support import SAMPLE_HOSTILE_IDS, tree

GOOD = "ok-id"

# Every RunsRoot method that turns ids into paths, with the hostile id in each slot.
_Method = Callable[[RunsRoot, str], object]
ENTRY_POINTS: list[tuple[str, _Method]] = [
    ("project_dir", lambda r, bad: r.project_dir(bad)),
    ("task_dir.project", lambda r, bad: r.task_dir(bad, GOOD)),
    ("task_dir.task", lambda r, bad: r.task_dir(GOOD, bad)),
    ("runs_dir.project", lambda r, bad: r.runs_dir(bad, GOOD)),
    ("runs_dir.task", lambda r, bad: r.runs_dir(GOOD, bad)),
    ("run_dir.project", lambda r, bad: r.run_dir(bad, GOOD, GOOD)),
    ("run_dir.task", lambda r, bad: r.run_dir(GOOD, bad, GOOD)),
    ("run_dir.run", lambda r, bad: r.run_dir(GOOD, GOOD, bad)),
    ("project_bus", lambda r, bad: r.project_bus(bad)),
    ("task_bus.project", lambda r, bad: r.task_bus(bad, GOOD)),
    ("task_bus.task", lambda r, bad: r.task_bus(GOOD, bad)),
    ("ensure_task_dir.project", lambda r, bad: r.ensure_task_dir(bad, GOOD)),
    ("ensure_task_dir.task", lambda r, bad: r.ensure_task_dir(GOOD, bad)),
    ("create_run_dir.project", lambda r, bad: r.create_run_dir(bad, GOOD, GOOD)),
    ("create_run_dir.task", lambda r, bad: r.create_run_dir(GOOD, bad, GOOD)),
    ("create_run_dir.run", lambda r, bad: r.create_run_dir(GOOD, GOOD, bad)),
    ("task_ids", lambda r, bad: r.task_ids(bad)),
    ("run_ids.project", lambda r, bad: r.run_ids(bad, GOOD)),
    ("run_ids.task", lambda r, bad: r.run_ids(GOOD, bad)),
]


@pytest.mark.parametrize(("method", "call"), ENTRY_POINTS, ids=[e[0] for e in ENTRY_POINTS])
def test_every_path_method_rejects_hostile_ids(tmp_path: Path, method: str, call: _Method) -> None:
    sandbox = tmp_path / "sandbox"
    (sandbox / "runs").mkdir(parents=True)
    for label, bad in SAMPLE_HOSTILE_IDS:
        with pytest.raises(InvalidIdError):
            call(RunsRoot.at(sandbox / "runs"), bad)
        assert tree(sandbox) == ["runs"], label


def test_layout_paths(runs_root: RunsRoot) -> None:
    base = runs_root.path
    assert runs_root.task_dir("p", "t") == base / "p" / "t"
    assert runs_root.run_dir("p", "t", "r") == base / "p" / "t" / "runs" / "r"
    assert runs_root.project_bus("p") == base / "p" / "PROJECT-MESSAGE-BUS.md"
    assert runs_root.task_bus("p", "t") == base / "p" / "t" / "TASK-MESSAGE-BUS.md"


def test_create_run_dir_refuses_an_existing_run(runs_root: RunsRoot) -> None:
    run_dir = runs_root.create_run_dir("p", "t", "r1")
    assert run_dir.is_dir()
    with pytest.raises(FileExistsError):
        runs_root.create_run_dir("p", "t", "r1")


def test_listing_skips_hidden_entries_and_files(runs_root: RunsRoot) -> None:
    runs_root.create_run_dir("p", "t", "r2")
    runs_root.create_run_dir("p", "t", "r1")
    (runs_root.path / "p" / ".tmp").mkdir()
    (runs_root.path / "p" / "PROJECT-MESSAGE-BUS.md").write_text("")
    assert runs_root.project_ids() == ["p"]
    assert runs_root.task_ids("p") == ["t"]
    assert runs_root.run_ids("p", "t") == ["r1", "r2"]
    assert [r[:3] for r in runs_root.iter_run_dirs()] == [("p", "t", "r1"), ("p", "t", "r2")]
    assert runs_root.run_ids("p", "missing") == []


def test_runs_root_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Path.home()
    assert resolve_runs_root().path == home / ".run-agent" / "runs"
    assert resolve_runs_root(None, str(tmp_path / "cfg")).path == tmp_path / "cfg"
    monkeypatch.setenv("CONDUCTOR_ROOT", str(tmp_path / "env"))
    assert resolve_runs_root(None, str(tmp_path / "cfg")).path == tmp_path / "env"
    assert resolve_runs_root(str(tmp_path / "flag"), str(tmp_path / "cfg")).path == (
        tmp_path / "flag"
    )
    assert resolve_runs_root("~/x").path == home / "x"


def test_runs_root_is_a_value_as_the_dataclass_was(tmp_path: Path) -> None:
    """A plain class since `bus post` stopped importing dataclasses: same equality, hash,
    immutability, and it pickles and copies (for worker processes)."""
    import copy
    import pickle

    root = RunsRoot.at(tmp_path)
    assert root == RunsRoot(tmp_path) and hash(root) == hash(RunsRoot(tmp_path))
    assert root != RunsRoot(tmp_path / "other") and {root, RunsRoot(tmp_path)} == {root}
    with pytest.raises(AttributeError):
        root.path = tmp_path / "other"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(root)) == root == copy.deepcopy(root)
    assert repr(root) == f"RunsRoot(path={tmp_path!r})"
