"""run-info.yaml: what we write reads back exactly, and foreign files read tolerantly."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conductor_loop.errors import StorageError
from conductor_loop.storage.runinfo import (
    RUN_INFO_FILE,
    RunInfo,
    RunInfoError,
    iso_utc,
    read_run_info,
    run_info_from_text,
    write_run_info,
)
from conductor_loop.storage.usage import Usage
from conductor_loop.storage.yamlish import parse_block
from tests.support import Tmpfs

_INT_FIELDS = {"version", "pid", "pgid", "exit_code", "runner_pid"}
_STR_FIELDS = [
    f.name for f in dataclasses.fields(RunInfo) if f.name not in _INT_FIELDS | {"extra", "usage"}
]
_REQUIRED = ("run_id", "project_id", "task_id")


def _full_info() -> RunInfo:
    return RunInfo(
        run_id="20260223-2048580000-66788-1",
        project_id="demo",
        task_id="task-20260223-191700-docs",
        parent_run_id="20260223-2048000000-66000-1",
        agent="claude",
        pid=4242,
        pgid=4242,
        status="completed",
        start_time="2026-02-23T20:48:58.000Z",
        end_time="2026-02-23T20:50:00.500Z",
        exit_code=0,
        cwd="/work/dir with spaces",
        prompt_path="/runs/demo/t/runs/r/prompt.md",
        commandline="claude -p \"say: hi\" --flag='x' # not a comment",
        error_summary="line one\nline two: with colon\n- and a dash",
        backend_model="true",
        host="0",
    )


def test_write_then_read_gives_the_same_record(tmp_path: Path) -> None:
    info = _full_info()
    write_run_info(tmp_path, info)
    assert read_run_info(tmp_path) == info


def test_written_file_is_yaml_with_the_spec_types(tmp_path: Path) -> None:
    write_run_info(tmp_path, _full_info())
    data = yaml.load((tmp_path / RUN_INFO_FILE).read_text(), Loader=yaml.CSafeLoader)
    assert data["pid"] == 4242 and data["exit_code"] == 0 and data["version"] == 1
    assert data["backend_model"] == "true"  # quoted, so not read as a boolean
    assert data["host"] == "0"
    assert data["error_summary"] == "line one\nline two: with colon\n- and a dash"
    assert data["parent_run_id"] == "20260223-2048000000-66000-1"
    assert data["previous_run_id"] == ""


_text = st.text(max_size=30)


@settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60, deadline=None
)
@given(
    strings=st.fixed_dictionaries({name: _text for name in _STR_FIELDS}),
    ints=st.fixed_dictionaries(
        {name: st.integers(-(2**31), 2**31) for name in sorted(_INT_FIELDS)}
    ),
)
def test_any_field_values_round_trip(
    tmp_path: Path, strings: dict[str, str], ints: dict[str, int]
) -> None:
    for name in _REQUIRED:
        strings[name] = strings[name] or "x"
    info = RunInfo(**strings, **ints)  # type: ignore[arg-type]
    write_run_info(tmp_path, info, fsync=False)
    assert read_run_info(tmp_path) == info


def test_reader_ignores_unknown_keys_and_tolerates_missing_optional_ones(tmp_path: Path) -> None:
    (tmp_path / RUN_INFO_FILE).write_text(
        "run_id: r1\nproject_id: p\ntask_id: t\nstatus: running\nfuture_field: [1, 2]\n"
    )
    info = read_run_info(tmp_path)
    assert (info.run_id, info.status, info.exit_code, info.version) == ("r1", "running", -1, 1)
    assert info.extra == {"future_field": ["1", "2"]}
    assert not info.is_finished


def test_reads_a_record_written_by_the_go_tool(tmp_path: Path) -> None:
    (tmp_path / RUN_INFO_FILE).write_text(
        "version: 1\n"
        "run_id: 20260223-2048580000-66788-1\n"
        "project_id: demo\n"
        "task_id: task-20260223-191700-docs\n"
        'parent_run_id: ""\n'
        "agent: codex\n"
        "process_ownership: managed\n"
        "pid: 66790\n"
        "pgid: 66790\n"
        "status: failed\n"
        "start_time: 2026-02-23T20:48:58.123456789Z\n"
        "end_time: 0001-01-01T00:00:00Z\n"
        "exit_code: 1\n"
        "cwd: /home/u/proj\n"
        "commandline: 'codex exec --json -'\n"
        "error_summary: |\n  boom\n  twice\n"
    )
    info = read_run_info(tmp_path)
    assert info.status == "failed" and info.is_finished
    assert info.pid == 66790 and info.exit_code == 1
    assert info.start_time == "2026-02-23T20:48:58.123456789Z"
    assert info.end_time == ""  # Go's zero time means "not set" (issue 12)
    assert info.commandline == "codex exec --json -"
    assert info.error_summary == "boom\ntwice\n"


@pytest.mark.parametrize("missing", _REQUIRED)
def test_missing_required_field_is_named(tmp_path: Path, missing: str) -> None:
    fields = {"run_id": "r", "project_id": "p", "task_id": "t"}
    del fields[missing]
    (tmp_path / RUN_INFO_FILE).write_text("".join(f"{k}: {v}\n" for k, v in fields.items()))
    with pytest.raises(RunInfoError, match=missing):
        read_run_info(tmp_path)


@pytest.mark.parametrize(
    "text", ["run_id: r\nproject_id: p\ntask_id: t\npid: lots\n", "[not, a, mapping]\n", "a: [\n"]
)
def test_invalid_documents_raise_run_info_error_naming_the_file(tmp_path: Path, text: str) -> None:
    (tmp_path / RUN_INFO_FILE).write_text(text)
    with pytest.raises(RunInfoError, match=re.escape(str(tmp_path / RUN_INFO_FILE))):
        read_run_info(tmp_path)


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_run_info(tmp_path)


def test_write_leaves_no_temp_files(tmp_path: Path) -> None:
    for status in ("running", "completed"):
        write_run_info(tmp_path, dataclasses.replace(_full_info(), status=status))
    assert [p.name for p in tmp_path.iterdir()] == [RUN_INFO_FILE]
    assert read_run_info(tmp_path).status == "completed"


def test_iso_utc_format() -> None:
    assert iso_utc(1771879690.1239) == "2026-02-23T20:48:10.123Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", iso_utc())


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.text(max_size=40), min_size=3, max_size=3),
    number=st.integers(min_value=-(2**31), max_value=2**31),
)
def test_fast_run_info_parse_agrees_with_the_general_reader(values: list[str], number: int) -> None:
    info = RunInfo(
        run_id="20260101-0000000000-1-1",
        project_id="p",
        task_id="t",
        error_summary=values[0],
        commandline=values[1],
        cwd=values[2],
        pid=number,
    )
    text = info.to_yaml()
    assert parse_block(text) == yaml.load(text, Loader=yaml.CBaseLoader)
    assert RunInfo.from_mapping(parse_block(text)) == info


def test_keys_written_by_other_tools_survive_a_rewrite(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / RUN_INFO_FILE).write_text(
        "run_id: r1\nproject_id: p\ntask_id: t\nstatus: running\ngo_only_field: kept value\n"
    )
    info = read_run_info(run_dir)
    info.status = "completed"
    write_run_info(run_dir, info)
    again = read_run_info(run_dir)
    assert again.status == "completed" and again.extra["go_only_field"] == "kept value"


def test_a_full_disk_rewrites_the_record_in_place(tmpfs: Tmpfs) -> None:
    run_dir = tmpfs.path / "run"
    run_dir.mkdir()
    info = RunInfo(run_id="r1", project_id="p", task_id="t", error_summary="x" * 300)
    write_run_info(run_dir, info)
    tmpfs.fill()  # no room for a second copy: replacing it atomically is impossible
    info.status, info.error_summary = "failed", "shorter"
    write_run_info(run_dir, info)
    assert read_run_info(run_dir) == info
    assert os.listdir(run_dir) == ["run-info.yaml"]
    info.error_summary = "y" * 5000  # more than the blocks it has: refused, not torn
    with pytest.raises(StorageError) as raised:
        write_run_info(run_dir, info)
    assert raised.value.code == "storage_full"
    assert read_run_info(run_dir).error_summary == "shorter"


# -- usage: a nested mapping of the run's token and cost figures ---------------------

_count = st.none() | st.integers(min_value=0, max_value=2**53)
_cost = st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


def _with_usage(**figures: object) -> RunInfo:
    info = _full_info()
    info.usage = Usage.of(**figures)  # type: ignore[arg-type]
    return info


@settings(max_examples=200, deadline=None)
@given(input_tokens=_count, output_tokens=_count, cached=_count, cost=_cost)
def test_usage_round_trips_and_reads_the_same_fast_or_general(
    input_tokens: int | None, output_tokens: int | None, cached: int | None, cost: float | None
) -> None:
    usage = Usage(input_tokens, output_tokens, cached, cost)
    info = dataclasses.replace(_full_info(), usage=usage if usage.known else None)
    text = info.to_yaml()
    assert parse_block(text) == yaml.load(text, Loader=yaml.CBaseLoader)
    assert run_info_from_text(text) == info
    loaded = yaml.load(text, Loader=yaml.CSafeLoader)  # numbers, as YAML tools read them
    assert loaded.get("usage") == (usage.to_dict() or None)


def test_usage_is_a_nested_mapping_of_the_known_figures(tmp_path: Path) -> None:
    write_run_info(tmp_path, _with_usage(input_tokens=10, output_tokens=5, cost_usd=0.000175))
    text = (tmp_path / RUN_INFO_FILE).read_text()
    assert text.endswith("usage:\n  input_tokens: 10\n  output_tokens: 5\n  cost_usd: 0.000175\n")
    loaded = yaml.safe_load(text)
    assert loaded["usage"] == {"input_tokens": 10, "output_tokens": 5, "cost_usd": 0.000175}
    assert read_run_info(tmp_path).usage == Usage(10, 5, None, 0.000175)


def test_no_usage_block_when_nothing_is_known(tmp_path: Path) -> None:
    write_run_info(tmp_path, _with_usage())
    assert "usage" not in (tmp_path / RUN_INFO_FILE).read_text()
    assert read_run_info(tmp_path).usage is None


def test_small_costs_are_written_as_yaml_floats() -> None:
    text = _with_usage(cost_usd=1e-05).to_yaml()
    assert "  cost_usd: 1.0e-05\n" in text
    assert yaml.safe_load(text)["usage"]["cost_usd"] == 1e-05
    assert run_info_from_text(text).usage == Usage(cost_usd=1e-05)


def test_usage_written_by_another_tool_in_another_order_reads(tmp_path: Path) -> None:
    (tmp_path / RUN_INFO_FILE).write_text(
        "usage:\n    cost_usd: 0.5\n    input_tokens: 7\nrun_id: r1\nproject_id: p\n"
        "task_id: t\nstatus: completed\n"
    )
    info = read_run_info(tmp_path)
    assert info.usage == Usage(input_tokens=7, cost_usd=0.5)
    assert info.extra == {}


@pytest.mark.parametrize(
    "block",
    [
        "usage: {}\n",
        "usage:\n",
        "usage: null\n",
        "usage: lots\n",
        "usage:\n  input_tokens: many\n  output_tokens: -3\n  cost_usd: .nan\n",
    ],
)
def test_unreadable_usage_figures_are_unknown_not_an_error(tmp_path: Path, block: str) -> None:
    (tmp_path / RUN_INFO_FILE).write_text(f"run_id: r1\nproject_id: p\ntask_id: t\n{block}")
    assert read_run_info(tmp_path).usage is None


def test_usage_and_keys_of_other_tools_survive_a_rewrite(tmp_path: Path) -> None:
    (tmp_path / RUN_INFO_FILE).write_text(
        "run_id: r1\nproject_id: p\ntask_id: t\ngo_only_field: kept\nusage:\n  output_tokens: 3\n"
    )
    info = read_run_info(tmp_path)
    info.status = "completed"
    write_run_info(tmp_path, info)
    again = read_run_info(tmp_path)
    assert again.usage == Usage(output_tokens=3) and again.extra == {"go_only_field": "kept"}


def test_to_dict_gives_usage_as_plain_data() -> None:
    assert _with_usage(output_tokens=3).to_dict()["usage"] == {
        "input_tokens": None,
        "output_tokens": 3,
        "cached_input_tokens": None,
        "cost_usd": None,
    }
    assert _full_info().to_dict()["usage"] is None
