"""Users switch between this tool and the Go original on one runs root (issue 12).

No Go toolchain is needed: tests/fixtures/go holds files in the exact shape the Go tool
writes (see its README), and our own output is checked against the rules the Go tool
applies when it reads run-info.yaml (gopkg.in/yaml.v3 into a struct whose start_time and
end_time are ``time.Time``: RFC 3339 text, and no empty string).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conductor_loop.bus.reader import read_all
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import (
    RUN_INFO_FILE,
    RunInfo,
    iso_utc,
    read_run_info,
    run_info_from_text,
    write_run_info,
)
from tests.conftest import VENV_BIN

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "go"
PROJECT, TASK = "demo", "task-20260223-191700-docs"

# time.Time's text form (RFC 3339, optional fraction, Z or an offset): what Go parses.
GO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)\Z")
# Fields of Go's storage.RunInfo and the YAML type each must have.
GO_INT_FIELDS = ("version", "pid", "pgid", "exit_code")
GO_TIME_FIELDS = ("start_time", "end_time")
GO_STRING_FIELDS = (
    "run_id",
    "parent_run_id",
    "previous_run_id",
    "project_id",
    "task_id",
    "agent",
    "process_ownership",
    "status",
    "cwd",
    "prompt_path",
    "output_path",
    "stdout_path",
    "stderr_path",
    "commandline",
    "error_summary",
    "agent_version",
)


def assert_go_reads(text: str) -> None:
    """Fail where the Go tool's yaml.v3 decode into its RunInfo struct would fail."""
    data = yaml.load(text, Loader=yaml.BaseLoader)  # every scalar as the text it is
    assert isinstance(data, dict)
    for name in GO_INT_FIELDS:
        if name in data:
            assert re.fullmatch(r"-?\d+", data[name]), (name, data[name])
    for name in GO_TIME_FIELDS:
        if name in data:
            assert GO_TIME.match(data[name]), f"Go cannot parse {name}: {data[name]!r}"
    for name in GO_STRING_FIELDS:
        if name in data:
            assert isinstance(data[name], str), name


@pytest.mark.parametrize("name", ["running", "completed", "failed"])
def test_go_run_info_is_read(name: str) -> None:
    info = run_info_from_text((FIXTURES / f"run-info-{name}.yaml").read_text("utf-8"))
    assert info.status == name
    assert info.project_id == PROJECT and info.task_id == TASK
    assert info.start_time
    if name == "running":
        assert info.end_time == ""  # Go's zero time: not ended
        assert not info.is_finished
        assert info.process_ownership == "managed"
    else:
        assert info.end_time.startswith("2026-02-23T19:")
        assert info.is_finished
    if name == "failed":
        assert info.error_summary == "agent exited with code 1: quota exceeded"
        assert info.parent_run_id == "20260223-1920000000-67946-2"
        assert info.process_ownership == "external"
        assert info.exit_code == 1
    if name == "completed":
        assert info.previous_run_id == "20260223-1917100000-67946-1"
        assert info.agent_version == "codex-cli 0.171.0"


def test_our_running_and_finished_run_info_parse_under_go_rules(tmp_path: Path) -> None:
    info = RunInfo(
        run_id="20260101-0000000000-1-1",
        project_id="p",
        task_id="t",
        agent="claude",
        start_time=iso_utc(),
        heartbeat_time=iso_utc(),
    )
    write_run_info(tmp_path, info, fsync=False)
    running = (tmp_path / RUN_INFO_FILE).read_text("utf-8")
    assert_go_reads(running)
    assert "end_time" not in running  # an empty end_time failed the Go tool's whole read
    assert read_run_info(tmp_path).end_time == ""

    info.status, info.exit_code, info.end_time = "completed", 0, iso_utc()
    write_run_info(tmp_path, info, fsync=False)
    finished = (tmp_path / RUN_INFO_FILE).read_text("utf-8")
    assert_go_reads(finished)
    assert read_run_info(tmp_path).end_time == info.end_time


def test_go_rules_catch_what_broke_the_go_tool() -> None:
    """The check above can fail: an empty end_time, as we used to write, is caught."""
    with pytest.raises(AssertionError, match="end_time"):
        assert_go_reads('run_id: r\nstart_time: 2026-01-01T00:00:00Z\nend_time: ""\n')


def go_runs_root(tmp_path: Path) -> RunsRoot:
    root = RunsRoot.at(tmp_path / "runs")
    for name in ("running", "completed", "failed"):
        text = (FIXTURES / f"run-info-{name}.yaml").read_text("utf-8")
        run_id = re.search(r"^run_id: (\S+)$", text, re.MULTILINE)
        assert run_id is not None
        run_dir = root.run_dir(PROJECT, TASK, run_id.group(1))
        run_dir.mkdir(parents=True)
        (run_dir / RUN_INFO_FILE).write_text(text, "utf-8")
    shutil.copy(FIXTURES / "TASK-MESSAGE-BUS.md", root.task_dir(PROJECT, TASK))
    return root


def test_run_agent_list_shows_go_runs_sensibly(tmp_path: Path) -> None:
    root = go_runs_root(tmp_path)
    # The running Go run's agent is alive (else we would rightly record it as failed).
    agent = subprocess.Popen(["sleep", "60"], start_new_session=True)
    running = root.run_dir(PROJECT, TASK, "20260223-1917100000-67946-1") / RUN_INFO_FILE
    text = re.sub(r"^(pid|pgid): \d+$", rf"\1: {agent.pid}", running.read_text("utf-8"), flags=re.M)
    text = re.sub(r"^start_time: .*$", f"start_time: {iso_utc()}", text, flags=re.M)
    running.write_text(text, "utf-8")
    try:
        done = subprocess.run(
            [str(VENV_BIN / "run-agent"), "list", "--root", str(root.path), "--project", PROJECT,
             "--task", TASK],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        agent.kill()
        agent.wait()
    assert done.returncode == 0, done.stderr
    assert "-6393" not in done.stdout and "-63" not in done.stdout, done.stdout
    for status in ("running", "completed", "failed"):
        assert status in done.stdout
    assert "89.8s" in done.stdout  # the completed run: 19:20:00.5 → 19:21:30.25


def test_go_bus_file_is_read(tmp_path: Path) -> None:
    messages = read_all(FIXTURES / "TASK-MESSAGE-BUS.md")
    assert [m.type for m in messages] == ["RUN_START", "PROGRESS", "ISSUE"]
    first, second, third = messages
    assert first.msg_id == "MSG-20260223-191710-184887000-PID67946-0001"
    assert first.meta == {"source": "runner"}
    assert first.run_id == "20260223-1917100000-67946-1"
    assert first.body.rstrip("\n") == "run started"
    assert second.body.rstrip("\n") == "line one\nline two"
    assert [p.msg_id for p in second.parents] == [first.msg_id]
    assert second.parents[0].kind == "child_of"
    assert [(link.url, link.label) for link in second.links] == [("https://example.com/pr/1", "PR")]
    assert third.issue_id == third.msg_id
    assert third.body == "last body"
