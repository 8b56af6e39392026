"""The ``run-agent`` agents find first on their PATH (``runner.agent_launcher``): Python
without ``site``, the same CLI; and the fast post's exit without the interpreter's
teardown (``cli.run_agent``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conductor_loop.bus.reader import read_all
from conductor_loop.runner import agent_launcher
from conductor_loop.runner.agent_launcher import (
    LAUNCHER_NAME,
    MAX_SHEBANG,
    agent_launcher_dir,
    launcher_text,
)
from conductor_loop.runner.environment import build_agent_env, run_agent_bin_dir
from tests.runner.conftest import RunnerEnv

FORBIDDEN = ("site", "click", "pydantic", "yaml", "httpx", "fastapi")


def _launcher(state: Path) -> Path:
    directory = agent_launcher_dir(state)
    assert directory is not None
    return Path(directory) / LAUNCHER_NAME


def _bus_env(bus: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JRUN_", "CONDUCTOR_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env |= {
        "JRUN_MESSAGE_BUS": str(bus),
        "JRUN_PROJECT_ID": "p",
        "JRUN_TASK_ID": "t",
        "JRUN_ID": "20260223-1917100000-67946-1",
    }
    return env | extra


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def _imported(stderr: str) -> set[str]:
    """Module names from ``-X importtime`` lines."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    } - {"imported package"}


def test_an_agent_finds_the_launcher_first_and_posts_through_it(rig: RunnerEnv) -> None:
    state = rig.tmp / "state"
    prompt = (
        'FAKE: run command -v run-agent > "$JRUN_RUN_FOLDER/which"; '
        "run-agent bus post --type PROGRESS --body launched >/dev/null"
    )
    done = rig.run(
        "job", "--project", "p", "--task", "t", "--prompt", prompt, CONDUCTOR_STATE_DIR=str(state)
    )
    assert done.returncode == 0, done.stderr
    (info,) = rig.runs("p", "t")
    which = Path(rig.root.run_dir("p", "t", info.run_id), "which").read_text().strip()
    assert Path(which).parent.parent == state / "bin"
    assert Path(which).read_text().startswith(f"#!{sys.executable} -S\n")
    posted = [m for m in read_all(rig.root.task_bus("p", "t")) if m.type == "PROGRESS"]
    assert [(m.body, m.run_id) for m in posted] == [("launched", info.run_id)]


def test_a_post_through_the_launcher_loads_no_site(tmp_path: Path) -> None:
    bus = tmp_path / "TASK-MESSAGE-BUS.md"
    launcher = _launcher(tmp_path / "state")
    env = _bus_env(bus, PYTHONPROFILEIMPORTTIME="1")
    done = _run([str(launcher), "bus", "post", "--body", "no site"], env)
    assert done.returncode == 0, done.stderr
    loaded = _imported(done.stderr)
    assert "conductor_loop.bus.writer" in loaded  # the list is real
    assert not loaded & set(FORBIDDEN)
    (msg,) = read_all(bus)
    assert (msg.body, msg.msg_id) == ("no site", done.stdout.strip())
    # The console script, for contrast, starts with site.
    console = _run([run_agent_bin_dir() + "/run-agent", "bus", "post", "--body", "site"], env)
    assert console.returncode == 0, console.stderr
    assert "site" in _imported(console.stderr)


def test_the_launcher_runs_every_other_command_with_site(tmp_path: Path) -> None:
    bus = tmp_path / "TASK-MESSAGE-BUS.md"
    launcher = str(_launcher(tmp_path / "state"))
    env = _bus_env(bus)
    posted = _run([launcher, "bus", "post", "--body", "hello"], env)
    read = _run([launcher, "bus", "read", "--bus", str(bus)], env)
    assert read.returncode == 0, read.stderr
    assert posted.stdout.strip() in read.stdout and "hello" in read.stdout
    top = _run([launcher, "--help"], env)  # the group's own help: without site, too
    assert top.returncode == 0 and "Commands:" in top.stdout and "bus" in top.stdout
    help_text = _run([launcher, "status", "--help"], env)
    assert help_text.returncode == 0 and help_text.stdout.startswith("Usage: run-agent status")
    unknown = _run([launcher, "no-such-command"], env)
    assert unknown.returncode == 2 and "No such command" in unknown.stderr


def test_a_failed_fast_post_still_reports_and_exits_with_its_status(tmp_path: Path) -> None:
    """The fast post ends without the interpreter's teardown: what it printed is not lost."""
    bus = tmp_path / "bus-dir" / "TASK-MESSAGE-BUS.md"
    bus.mkdir(parents=True)  # a directory where the bus file should be
    launcher = str(_launcher(tmp_path / "state"))
    for argv in ([launcher], [run_agent_bin_dir() + "/run-agent"]):
        done = _run([*argv, "bus", "post", "--body", "x"], _bus_env(bus))
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr == f"error: cannot use {str(bus)!r}: Is a directory\n"


def test_one_launcher_per_interpreter_written_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    launcher = _launcher(state)
    first = launcher.stat()
    assert first.st_mode & 0o777 == 0o700 and launcher.parent.stat().st_mode & 0o777 == 0o700
    assert _launcher(state) == launcher
    assert launcher.stat().st_ino == first.st_ino  # not written again
    launcher.write_text("#!/bin/sh\necho tampered\n")
    assert _launcher(state) == launcher
    assert launcher.read_text().startswith(f"#!{sys.executable} -S\n")  # mended


def test_another_interpreter_gets_its_own_launcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = _launcher(tmp_path)
    monkeypatch.setattr(sys, "executable", "/opt/other/bin/python3")
    other = _launcher(tmp_path)
    assert other != ours and ours.exists()
    assert other.read_text().startswith("#!/opt/other/bin/python3 -S\n")


@pytest.mark.parametrize(
    "python",
    ["/opt/my python/bin/python3", "python3", "/" + "p" * MAX_SHEBANG, "/usr/bin/py\tthon"],
)
def test_no_launcher_where_no_shebang_can_name_the_interpreter(
    python: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert launcher_text(python, "/site") is None
    monkeypatch.setattr(sys, "executable", python)
    assert agent_launcher_dir(tmp_path) is None
    assert not (tmp_path / "bin").exists()


def test_no_launcher_where_it_cannot_be_written_or_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    assert agent_launcher_dir(not_a_dir) is None

    real_statvfs = os.statvfs

    class NoExec:
        def __init__(self, path: str) -> None:
            self.f_flag = real_statvfs(path).f_flag | os.ST_NOEXEC

    monkeypatch.setattr(agent_launcher.os, "statvfs", NoExec)
    assert agent_launcher_dir(tmp_path / "state") is None


def test_the_agents_path_puts_the_launcher_before_the_console_scripts(tmp_path: Path) -> None:
    def path_of(launcher_dir: str | None) -> list[str]:
        env = build_agent_env(
            base={"PATH": "/usr/bin:/bin"}, agent_env={}, project_id="p", task_id="t",
            run_id="r", parent_run_id="", runs_root=tmp_path, task_dir=tmp_path,
            run_dir=tmp_path, task_bus=tmp_path / "bus.md", config_path=None,
            conductor_url=None, launcher_dir=launcher_dir,
        )  # fmt: skip
        return env["PATH"].split(os.pathsep)

    assert path_of("/state/bin/abc") == ["/state/bin/abc", run_agent_bin_dir(), "/usr/bin", "/bin"]
    assert path_of(None) == [run_agent_bin_dir(), "/usr/bin", "/bin"]
