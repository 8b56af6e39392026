"""Which bus a command means, and which project/task/run a new message belongs to."""

from __future__ import annotations

from pathlib import Path

import pytest

from conductor_loop.bus.locate import (
    BusLocation,
    discover_bus,
    infer_context,
    message_fields,
    resolve_bus,
)
from conductor_loop.errors import InvalidIdError, NotFoundError
from conductor_loop.storage.layout import RunsRoot
from tests.support import SAMPLE_HOSTILE_IDS


@pytest.mark.parametrize("slot", ["project", "task"])
def test_resolve_bus_rejects_hostile_ids(
    runs_root: RunsRoot, monkeypatch: pytest.MonkeyPatch, slot: str
) -> None:
    # Even from inside a task directory (where discovery would find a bus), an explicit
    # bad id is an error, never silently replaced by another bus.
    task_dir = runs_root.ensure_task_dir("p", "t")
    (task_dir / "TASK.md").write_text("x")
    monkeypatch.chdir(task_dir)
    for _, bad in SAMPLE_HOSTILE_IDS:
        ids = {"project_id": "p", "task_id": "t"} | {f"{slot}_id": bad}
        with pytest.raises(InvalidIdError):
            resolve_bus(runs_root, **ids)


def test_resolve_bus_rejects_hostile_project_from_env(
    runs_root: RunsRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _, bad in SAMPLE_HOSTILE_IDS:
        monkeypatch.setenv("JRUN_PROJECT_ID", bad)
        with pytest.raises(InvalidIdError):
            resolve_bus(runs_root, task_id="t")


@pytest.mark.parametrize("slot", ["project_id", "task_id", "run_id"])
def test_message_fields_rejects_hostile_ids(slot: str) -> None:
    location = BusLocation(Path("/runs/p/t/TASK-MESSAGE-BUS.md"), "p", "t")
    for _, bad in SAMPLE_HOSTILE_IDS:
        fields = {"project_id": None, "task_id": None, "run_id": None} | {slot: bad}
        with pytest.raises(InvalidIdError):
            message_fields(location, **fields)


@pytest.mark.parametrize("var", ["JRUN_PROJECT_ID", "JRUN_TASK_ID", "JRUN_ID"])
def test_message_fields_rejects_hostile_ids_from_env(
    monkeypatch: pytest.MonkeyPatch, var: str
) -> None:
    for _, bad in SAMPLE_HOSTILE_IDS:
        monkeypatch.setenv(var, bad)
        with pytest.raises(InvalidIdError):
            message_fields(
                BusLocation(Path("/x/bus.md")),
                project_id="p" if var != "JRUN_PROJECT_ID" else None,
                task_id=None,
                run_id=None,
            )


def test_explicit_project_and_task_address_the_layout(runs_root: RunsRoot) -> None:
    assert resolve_bus(runs_root, project_id="p", task_id="t") == BusLocation(
        runs_root.task_bus("p", "t"), "p", "t"
    )
    assert resolve_bus(runs_root, project_id="p") == BusLocation(runs_root.project_bus("p"), "p")


def test_task_without_project_takes_the_project_from_jrun_env(
    runs_root: RunsRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JRUN_PROJECT_ID", "envp")
    assert resolve_bus(runs_root, task_id="t").path == runs_root.task_bus("envp", "t")


def test_explicit_bus_path_wins(runs_root: RunsRoot, tmp_path: Path) -> None:
    bus = runs_root.task_bus("p", "t")
    assert resolve_bus(runs_root, bus=str(bus), project_id="other") == BusLocation(bus, "p", "t")


def test_jrun_message_bus_env_is_used_when_no_flags(
    runs_root: RunsRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = runs_root.task_bus("p", "t")
    monkeypatch.setenv("JRUN_MESSAGE_BUS", str(bus))
    assert resolve_bus(runs_root) == BusLocation(bus, "p", "t")


def test_discovery_from_inside_a_run_dir(
    runs_root: RunsRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_dir = runs_root.ensure_task_dir("p", "t")
    (task_dir / "TASK.md").write_text("do it")
    run_dir = runs_root.create_run_dir("p", "t", "r1")
    monkeypatch.chdir(run_dir)
    found = resolve_bus(None)
    assert found == BusLocation(task_dir / "TASK-MESSAGE-BUS.md", "p", "t")
    assert discover_bus(run_dir) == found


def test_discovery_finds_the_project_bus_above_a_non_task_dir(runs_root: RunsRoot) -> None:
    project_dir = runs_root.project_dir("p")
    (project_dir / "notes").mkdir(parents=True)
    (project_dir / "PROJECT-MESSAGE-BUS.md").write_text("")
    assert discover_bus(project_dir / "notes") == BusLocation(
        project_dir / "PROJECT-MESSAGE-BUS.md", "p"
    )


def test_no_bus_anywhere_is_a_not_found_error_saying_what_to_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFoundError, match="--project"):
        resolve_bus(None)
    assert discover_bus(tmp_path) is None


def test_infer_context_from_file_names() -> None:
    assert infer_context(Path("/r/p/t/TASK-MESSAGE-BUS.md")) == BusLocation(
        Path("/r/p/t/TASK-MESSAGE-BUS.md"), "p", "t"
    )
    assert infer_context(Path("/r/p/PROJECT-MESSAGE-BUS.md")).project_id == "p"
    assert infer_context(Path("/r/other.md")) == BusLocation(Path("/r/other.md"))


def test_message_fields_order_flags_then_location_then_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JRUN_PROJECT_ID", "envp")
    monkeypatch.setenv("JRUN_TASK_ID", "envt")
    monkeypatch.setenv("JRUN_ID", "envr")
    located = BusLocation(Path("/r/locp/loct/TASK-MESSAGE-BUS.md"), "locp", "loct")
    bare = BusLocation(Path("/r/bus.md"))
    assert message_fields(located, project_id="fp", task_id="ft", run_id="fr") == (
        "fp",
        "ft",
        "fr",
    )
    assert message_fields(located, project_id=None, task_id=None, run_id=None) == (
        "locp",
        "loct",
        "envr",
    )
    assert message_fields(bare, project_id=None, task_id=None, run_id=None) == (
        "envp",
        "envt",
        "envr",
    )


def test_message_fields_needs_a_project() -> None:
    with pytest.raises(NotFoundError, match="--project"):
        message_fields(BusLocation(Path("/r/bus.md")), project_id=None, task_id=None, run_id=None)


def test_task_flag_inside_another_task_addresses_the_sibling_task(tmp_path: Path) -> None:
    from conductor_loop.bus.locate import resolve_bus
    from conductor_loop.storage.layout import RunsRoot

    root = RunsRoot.at(tmp_path / "runs")
    task_a = root.ensure_task_dir("p", "a")
    (task_a / "TASK.md").write_text("x")
    found = resolve_bus(None, task_id="b", start=task_a)
    assert found.path == root.task_bus("p", "b")
    assert (found.project_id, found.task_id) == ("p", "b")


def test_bus_location_compares_without_its_root_and_pickles() -> None:
    import copy
    import pickle

    here = BusLocation(Path("/r/p/t/TASK-MESSAGE-BUS.md"), "p", "t", Path("/r"))
    assert here == BusLocation(here.path, "p", "t") and hash(here) == hash(
        BusLocation(here.path, "p", "t")
    )
    assert here != BusLocation(here.path, "p", "u")
    with pytest.raises(AttributeError):
        here.task_id = "u"  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(here))
    assert again == here == copy.deepcopy(here) and again.root == Path("/r")
