"""The runner on a full or read-only disk (issue 10, L1): it records why it failed when
it still can, and exits with one ``error:`` line and status 74, never a traceback."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from conductor_loop.bus.reader import read_all
from conductor_loop.runner.liveness import reconcile_run
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import read_run_info
from tests.fakes import fake_agents_config_text
from tests.runner.conftest import RunnerEnv, agent_pid
from tests.support import Tmpfs, wait_until

EXIT_STORAGE = 74  # documented: the runner could not write under the runs root


@pytest.fixture
def disk_rig(rig: RunnerEnv, tmpfs: Tmpfs) -> RunnerEnv:
    """The rig with its runs root on the test's small tmpfs."""
    root = tmpfs.path / "runs"
    root.mkdir()
    return dataclasses.replace(rig, root=RunsRoot.at(root))


def error_line(stderr: str) -> str:
    """The one ``error:`` line a failed runner prints, and no traceback."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def started_run(rig: RunnerEnv, proc: subprocess.Popen[str]) -> Path:
    """The run directory of ``proc``'s run, once its agent is running."""

    def find() -> Path | None:
        assert proc.poll() is None, proc.communicate()
        ids = rig.root.run_ids("p", "t")
        run_dir = rig.root.run_dir("p", "t", ids[0]) if ids else None
        return run_dir if run_dir is not None and agent_pid(run_dir) else None

    return wait_until(find, 30, "the agent to start")


def test_job_on_a_full_disk_exits_cleanly_and_leaves_no_run_dir(
    disk_rig: RunnerEnv, tmpfs: Tmpfs
) -> None:
    tmpfs.fill()
    done = disk_rig.run("job", "--project", "p", "--task", "t", "--prompt", "FAKE: answer hi")
    assert done.returncode == EXIT_STORAGE, done.stderr
    line = error_line(done.stderr)
    assert "No space left on device" in line
    assert str(disk_rig.root.task_dir("p", "t")) in line
    assert disk_rig.root.run_ids("p", "t") == []


def test_job_whose_disk_fills_mid_run_records_the_failure(
    disk_rig: RunnerEnv, tmpfs: Tmpfs, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    proc = disk_rig.start(
        "job",
        "--project",
        "p",
        "--task",
        "t",
        "--prompt",
        f"FAKE: wait-file {gate} 30\nFAKE: answer {'x' * 20_000}",
    )
    run_dir = started_run(disk_rig, proc)
    stdout = run_dir / "agent-stdout.txt"
    wait_until(lambda: stdout.stat().st_size > 0, 30, "the agent's first event")
    tmpfs.fill()
    gate.touch()  # the agent's answer now outgrows the disk, and so does output.md
    _out, stderr = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_STORAGE, stderr
    line = error_line(stderr)
    assert "No space left on device" in line and str(run_dir) in line
    info = read_run_info(run_dir)
    assert info.status == "failed" and info.end_time
    assert "No space left on device" in info.error_summary
    messages = read_all(disk_rig.root.task_bus("p", "t"))
    assert [m.type for m in messages] == ["RUN_START", "RUN_CRASH"]
    assert "No space left on device" in messages[-1].body


def test_job_whose_run_dir_turns_read_only_mid_run_exits_cleanly(
    disk_rig: RunnerEnv, tmpfs: Tmpfs, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    proc = disk_rig.start(
        "job", "--project", "p", "--task", "t", "--prompt", f"FAKE: wait-file {gate} 30"
    )
    run_dir = started_run(disk_rig, proc)
    tmpfs.bind_read_only(run_dir)  # the agent keeps its open files; nothing new is written
    gate.touch()
    _out, stderr = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_STORAGE, stderr
    line = error_line(stderr)
    assert "Read-only file system" in line and str(run_dir) in line
    messages = read_all(disk_rig.root.task_bus("p", "t"))  # outside the read-only part
    assert [m.type for m in messages] == ["RUN_START", "RUN_CRASH"]
    assert "Read-only file system" in messages[-1].body
    # Its record could not be written; whoever reads it sees the run failed, not running.
    assert read_run_info(run_dir).status == "running"
    assert reconcile_run(run_dir).status == "failed"


def test_task_loop_on_a_full_disk_exits_cleanly(disk_rig: RunnerEnv, tmpfs: Tmpfs) -> None:
    tmpfs.fill()
    done = disk_rig.run("task", "--project", "p", "--task", "t", "--prompt", "FAKE: write-done")
    assert done.returncode == EXIT_STORAGE, done.stderr
    line = error_line(done.stderr)
    assert "No space left on device" in line
    # The first write is the loop's lock file (TASK.md is written once the loop owns it).
    assert str(disk_rig.root.task_dir("p", "t") / ".task.lock") in line


@pytest.mark.parametrize("command", ["job", "task"])
def test_a_missing_token_file_names_the_agent_and_the_file(rig: RunnerEnv, command: str) -> None:
    missing = rig.tmp / "no-such-token"
    rig.config_path.write_text(
        fake_agents_config_text(rig.bin_dir, agents=("codex",), token_file=missing),
        encoding="utf-8",
    )
    args = ("--project", "p", "--task", "t", "--agent", "codex", "--prompt", "FAKE: write-done")
    done = rig.run(command, *args)
    assert done.returncode == 2, done.stderr
    line = error_line(done.stderr)
    assert "codex" in line and str(missing) in line and "No such file or directory" in line


def test_resume_on_a_full_disk_keeps_done_until_a_loop_runs(
    disk_rig: RunnerEnv, tmpfs: Tmpfs
) -> None:
    first = disk_rig.run("task", "--project", "p", "--task", "t", "--prompt", "FAKE: write-done")
    assert first.returncode == 0, first.stderr
    done = disk_rig.root.task_dir("p", "t") / "DONE"
    assert done.exists()
    tmpfs.fill()
    failed = disk_rig.run("resume", "--project", "p", "--task", "t")
    assert failed.returncode == EXIT_STORAGE, failed.stderr
    assert "No space left on device" in error_line(failed.stderr)
    assert done.exists()
    tmpfs.free()
    resumed = disk_rig.run("resume", "--project", "p", "--task", "t")
    assert resumed.returncode == 0, resumed.stderr
    assert [i.status for i in disk_rig.runs("p", "t")] == ["completed", "completed"]
