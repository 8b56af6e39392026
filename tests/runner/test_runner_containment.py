"""The runner and the bus CLI refuse symlinks inside the runs root with an ``error:`` line
that names the link, and create or change nothing outside the root."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runner.conftest import RunnerEnv
from tests.support import tree

MARKER = "MARKER-outside-root-90ab"


@pytest.fixture
def outside(rig: RunnerEnv) -> Path:
    """A directory outside the root, holding a bus with a marker message."""
    path = rig.tmp / "outside"
    path.mkdir()
    for name in ("PROJECT-MESSAGE-BUS.md", "TASK-MESSAGE-BUS.md"):
        (path / name).write_text(
            f"---\nmsg_id: MSG-1\nts: 2026-01-01T00:00:00Z\ntype: INFO\nproject_id: p\n---\n"
            f"{MARKER}\n",
            encoding="utf-8",
        )
    return path


def _refused(rig: RunnerEnv, link: Path, *args: str) -> None:
    done = rig.run(*args)
    assert done.returncode != 0, (args, done.stdout, done.stderr)
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert f"{link} is a symbolic link" in error, (args, done.stderr)
    assert "Traceback" not in done.stderr
    assert MARKER not in done.stdout + done.stderr


@pytest.mark.parametrize("where", ["project", "task"])
def test_job_task_and_bus_commands_refuse_a_symlinked_dir(
    rig: RunnerEnv, outside: Path, where: str
) -> None:
    if where == "project":
        link = rig.root.path / "p"
    else:
        rig.root.project_dir("p").mkdir()
        link = rig.root.task_dir("p", "t")
    link.symlink_to(outside, target_is_directory=True)
    before = tree(outside)
    started = rig.tmp / "agent-started"
    prompt = f"FAKE: touch {started}"
    _refused(rig, link, "job", "--project", "p", "--task", "t", "--prompt", prompt)
    _refused(rig, link, "task", "--project", "p", "--task", "t", "--prompt", prompt)
    _refused(rig, link, "bus", "post", "--project", "p", "--task", "t", "--body", "x")
    _refused(rig, link, "bus", "read", "--project", "p", "--task", "t")
    if where == "project":
        _refused(rig, link, "bus", "post", "--project", "p", "--body", "x")
        _refused(rig, link, "bus", "read", "--project", "p")
    assert tree(outside) == before
    assert not started.exists()


def test_bus_post_by_path_refuses_a_symlinked_task_dir(rig: RunnerEnv, outside: Path) -> None:
    """$JRUN_MESSAGE_BUS (what agents use) naming a bus whose task dir is a link."""
    rig.root.project_dir("p").mkdir()
    link = rig.root.task_dir("p", "t")
    link.symlink_to(outside, target_is_directory=True)
    before = tree(outside)
    done = rig.run("bus", "post", "--body", "x", JRUN_MESSAGE_BUS=str(link / "TASK-MESSAGE-BUS.md"))
    assert done.returncode != 0 and str(link) in done.stderr, done.stderr
    assert tree(outside) == before


def test_output_refuses_a_symlinked_run_file(rig: RunnerEnv, tmp_path: Path) -> None:
    done = rig.run("job", "--project", "p", "--task", "t", "--prompt", "FAKE: answer fine")
    assert done.returncode == 0, done.stderr
    (run_id,) = rig.root.run_ids("p", "t")
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{MARKER}\n", encoding="utf-8")
    link = rig.root.run_dir("p", "t", run_id) / "output.md"
    link.unlink()
    link.symlink_to(secret)
    _refused(rig, link, "output", "--run", run_id)
