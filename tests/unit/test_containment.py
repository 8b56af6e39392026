"""storage.containment: no symlink anywhere between the runs root and a file, and the
places that build on it (atomic writes, the layout, the bus, the index)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conductor_loop.api.errors import status_for
from conductor_loop.bus.locate import infer_context, resolve_bus
from conductor_loop.bus.message import Message
from conductor_loop.bus.reader import read_all, read_tail
from conductor_loop.bus.writer import BusWriter, append_message
from conductor_loop.errors import ContainmentError
from conductor_loop.orchestration.index import Index
from conductor_loop.storage.atomic import atomic_write_text
from conductor_loop.storage.containment import (
    check_inside,
    list_dirs_inside,
    make_dirs_inside,
    open_inside,
    read_text_inside,
)
from conductor_loop.storage.layout import RunsRoot
from tests.support import tree

LEVELS = ["p", "t", "runs", "r"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "runs"
    (path / "p" / "t" / "runs" / "r").mkdir(parents=True)
    (path / "p" / "t" / "runs" / "r" / "output.md").write_text("inside\n", encoding="utf-8")
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A copy of the tree's lower levels outside the root, with a secret at each."""
    path = tmp_path / "outside"
    (path / "p" / "t" / "runs" / "r").mkdir(parents=True)
    for directory in (path, *[path.joinpath(*LEVELS[: i + 1]) for i in range(4)]):
        (directory / "output.md").write_text("secret\n", encoding="utf-8")
    return path


def _output(root: Path) -> Path:
    return root / "p" / "t" / "runs" / "r" / "output.md"


def test_reads_and_creates_through_real_directories(root: Path) -> None:
    assert read_text_inside(root, _output(root)) == "inside\n"
    fd = open_inside(root, root / "p" / "new" / "f.txt", os.O_WRONLY | os.O_CREAT, make_dirs=True)
    os.close(fd)
    assert (root / "p" / "new" / "f.txt").is_file()


def test_the_root_itself_may_be_reached_through_a_symlink(root: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(root, target_is_directory=True)
    assert read_text_inside(alias, alias / "p" / "t" / "runs" / "r" / "output.md") == "inside\n"


@pytest.mark.parametrize("depth", range(1, 5), ids=LEVELS)
@pytest.mark.parametrize("target", ["outside", "inside"])
def test_a_symlinked_directory_at_any_level_is_refused(
    root: Path, outside: Path, depth: int, target: str
) -> None:
    link = root.joinpath(*LEVELS[:depth])
    moved = link.with_name(link.name + "-moved")
    link.rename(moved)
    # "inside": the link points back into the root (at the real directory, moved aside).
    link.symlink_to(outside.joinpath(*LEVELS[:depth]) if target == "outside" else moved)
    with pytest.raises(ContainmentError, match=re.escape(f"{link} is a symbolic link")) as caught:
        read_text_inside(root, _output(root))
    assert caught.value.code == "path_outside_root"
    with pytest.raises(ContainmentError):
        make_dirs_inside(root, link / "deeper")
    with pytest.raises(ContainmentError):
        check_inside(root, _output(root))
    assert not (outside.joinpath(*LEVELS[:depth]) / "deeper").exists()


@pytest.mark.parametrize("target", ["outside", "inside", "dangling"])
def test_a_symlinked_leaf_is_refused_for_reading_and_writing(
    root: Path, outside: Path, target: str
) -> None:
    leaf = _output(root)
    leaf.unlink()
    aim = {
        "outside": outside / "output.md",
        "inside": root / "p" / "t" / "TASK.md",
        "dangling": outside / "not-yet",
    }[target]
    if target == "inside":
        aim.write_text("inside too\n", encoding="utf-8")
    leaf.symlink_to(aim)
    for flags in (os.O_RDONLY, os.O_WRONLY | os.O_CREAT | os.O_APPEND, os.O_RDWR | os.O_TRUNC):
        with pytest.raises(ContainmentError, match=re.escape(f"{leaf} is a symbolic link")):
            open_inside(root, leaf, flags)
    assert not (outside / "not-yet").exists()
    assert (outside / "output.md").read_text() == "secret\n"
    with pytest.raises(ContainmentError):
        check_inside(root, leaf)


def test_paths_not_plainly_under_the_root_are_refused(root: Path, tmp_path: Path) -> None:
    for path in (tmp_path / "elsewhere", root / "p" / ".." / "p" / "x", Path(f"{root}-sibling")):
        with pytest.raises(ContainmentError, match="runs root"):
            open_inside(root, path)


def test_missing_paths_read_as_missing_and_check_as_fine(root: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        open_inside(root, root / "p" / "gone" / "x")
    assert caught.value.filename == str(root / "p" / "gone")
    check_inside(root, root / "p" / "gone" / "x")


def test_check_inside_says_whether_the_directory_of_the_path_exists(root: Path) -> None:
    (root / "p" / "t" / "bus.md").write_text("")
    (root / "p" / "file").write_text("")
    assert check_inside(root, root / "p" / "t" / "bus.md")  # all there
    assert check_inside(root, root / "p" / "t" / "new.md")  # only the leaf missing
    assert check_inside(root, root / "p")  # the root is its directory
    assert check_inside(root, root / "q")
    assert not check_inside(root, root / "p" / "gone" / "x")
    assert not check_inside(root, root / "q" / "t" / "x")
    assert not check_inside(root, root / "p" / "file" / "x")  # not a directory
    assert not check_inside(root / "none", root / "none" / "x")  # nor is the root


def test_listing_skips_symlinked_entries_and_refuses_a_symlinked_dir(
    root: Path, outside: Path
) -> None:
    (root / "q").symlink_to(outside, target_is_directory=True)
    (root / ".hidden").mkdir()
    assert list_dirs_inside(root, root) == ["p"]
    assert list_dirs_inside(root, root / "missing") == []
    with pytest.raises(ContainmentError):
        list_dirs_inside(root, root / "q")


def test_atomic_write_replaces_a_symlinked_leaf_and_refuses_a_symlinked_dir(
    root: Path, outside: Path
) -> None:
    leaf = _output(root)
    leaf.unlink()
    leaf.symlink_to(outside / "output.md")
    atomic_write_text(leaf, "mine\n", root=root)
    assert not leaf.is_symlink() and leaf.read_text() == "mine\n"
    assert (outside / "output.md").read_text() == "secret\n"
    (root / "p" / "t" / "runs" / "r2").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ContainmentError):
        atomic_write_text(root / "p" / "t" / "runs" / "r2" / "run-info.yaml", "x\n", root=root)
    assert not (outside / "run-info.yaml").exists()
    assert not [p for p in tree(root) if p.endswith(".tmp")]


def test_the_layout_creates_task_and_run_dirs_only_through_real_dirs(
    root: Path, outside: Path
) -> None:
    runs = RunsRoot.at(root)
    (root / "evil").symlink_to(outside, target_is_directory=True)
    before = tree(outside)
    with pytest.raises(ContainmentError, match=re.escape(f"{root / 'evil'} is a symbolic")):
        runs.ensure_task_dir("evil", "t")
    with pytest.raises(ContainmentError):
        runs.create_run_dir("evil", "p", "r9")
    with pytest.raises(ContainmentError):
        runs.run_ids("evil", "p")
    assert tree(outside) == before
    assert runs.create_run_dir("p", "t", "r9") == root / "p" / "t" / "runs" / "r9"
    with pytest.raises(FileExistsError):
        runs.create_run_dir("p", "t", "r9")


def test_the_bus_refuses_symlinked_dirs_and_files_when_given_the_root(
    root: Path, outside: Path
) -> None:
    runs = RunsRoot.at(root)
    (root / "evil").symlink_to(outside, target_is_directory=True)
    before = tree(outside)
    msg = Message(type="INFO", project_id="evil", body="x")
    with pytest.raises(ContainmentError):
        append_message(runs.project_bus("evil"), msg, root=root)
    with pytest.raises(ContainmentError), BusWriter(runs.task_bus("evil", "t"), root=root) as w:
        w.append(Message(type="INFO", project_id="evil", task_id="t", body="x"))
    assert tree(outside) == before
    (outside / "PROJECT-MESSAGE-BUS.md").write_text("", encoding="utf-8")
    with pytest.raises(ContainmentError):
        read_all(runs.project_bus("evil"), root=root)
    with pytest.raises(ContainmentError):
        read_tail(runs.project_bus("evil"), 5, root=root)
    append_message(runs.project_bus("p"), Message(type="INFO", project_id="p"), root=root)
    assert [m.type for m in read_all(runs.project_bus("p"), root=root)] == ["INFO"]


def test_bus_locations_know_their_runs_root(root: Path) -> None:
    runs = RunsRoot.at(root)
    assert resolve_bus(runs, project_id="p", task_id="t").root == root
    assert resolve_bus(runs, project_id="p").root == root
    assert infer_context(runs.task_bus("p", "t")).root == root
    assert infer_context(runs.project_bus("p")).root == root
    assert infer_context(Path("p/t/TASK-MESSAGE-BUS.md")).root is None
    assert infer_context(root / "shared-bus.md").root is None


def test_the_index_skips_symlinked_projects_tasks_runs_and_run_infos(
    root: Path, outside: Path
) -> None:
    runs = RunsRoot.at(root)
    info = "run_id: {0}\nproject_id: p\ntask_id: {1}\nstatus: completed\n"
    (root / "p" / "t" / "runs" / "r" / "run-info.yaml").write_text(info.format("r", "t"))
    (outside / "p" / "t" / "runs" / "r" / "run-info.yaml").write_text(info.format("x", "t"))
    (root / "linked-project").symlink_to(outside / "p", target_is_directory=True)
    (root / "p" / "linked-task").symlink_to(outside / "p" / "t", target_is_directory=True)
    (root / "p" / "t2").mkdir()
    (root / "p" / "t2" / "runs").symlink_to(outside / "p" / "t" / "runs")
    (root / "p" / "t" / "runs" / "linked-run").symlink_to(outside / "p" / "t" / "runs" / "r")
    (root / "p" / "t" / "runs" / "r3").mkdir()
    (root / "p" / "t" / "runs" / "r3" / "run-info.yaml").symlink_to(
        outside / "p" / "t" / "runs" / "r" / "run-info.yaml"
    )
    index = Index(runs)
    index.build()

    def seen() -> tuple[list[str], list[str], list[str]]:
        return (
            index.project_ids(),
            [t.task_id for t in index.tasks()],
            [e.info.run_id for e in index.runs()],
        )

    assert seen() == (["p"], ["t", "t2"], ["r"])
    changed = [
        str(root / "linked-project"),
        str(root / "p" / "linked-task"),
        str(root / "p" / "t2" / "runs"),
        str(root / "p" / "t" / "runs" / "linked-run"),
        str(root / "p" / "t" / "runs" / "r3" / "run-info.yaml"),
    ]
    index.apply(changed)
    index.apply_rescan()
    assert seen() == (["p"], ["t", "t2"], ["r"])


def test_refusals_are_403_in_the_api() -> None:
    assert status_for(ContainmentError.code) == 403
