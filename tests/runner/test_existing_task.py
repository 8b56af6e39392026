"""`run-agent task` on a task that exists already: never silently re-prompted.

The API answers 409 to creating an existing task; the CLI refuses the same way (exit 2)
and offers ``--resume`` (continue it as it is) or ``--force`` (replace its prompt).
"""

from __future__ import annotations

from pathlib import Path

from tests.runner.conftest import RunnerEnv
from tests.support import wait_until


def _task_md(rig: RunnerEnv, task: str = "t") -> str:
    return (rig.root.task_dir("p", task) / "TASK.md").read_text()


def test_a_refused_task_leaves_task_md_alone_while_its_loop_runs(rig: RunnerEnv) -> None:
    proc = rig.start("task", "--project", "p", "--task", "t", "--prompt", "FAKE: sleep 60")
    try:
        wait_until(lambda: rig.root.run_ids("p", "t"), 20, "first run")
        intruder = rig.run("task", "--project", "p", "--task", "t", "--prompt", "intruder prompt")
        assert intruder.returncode == 2, intruder.stderr
        assert "already being run" in intruder.stderr
        assert _task_md(rig) == "FAKE: sleep 60\n"
        forced = rig.run("task", "--project", "p", "--task", "t", "--prompt", "intruder", "--force")
        assert forced.returncode == 2 and "already being run" in forced.stderr
        assert _task_md(rig) == "FAKE: sleep 60\n"
    finally:
        rig.run("stop", "--project", "p", "--task", "t", "--force")
        proc.communicate(timeout=30)


def test_a_done_task_is_refused_not_rewritten(rig: RunnerEnv) -> None:
    first = rig.run("task", "--project", "p", "--task", "t", "--prompt", "FAKE: write-done")
    assert first.returncode == 0, first.stderr
    for extra in ((), ("--prompt", "FAKE: answer new work")):
        again = rig.run("task", "--project", "p", "--task", "t", *extra)
        assert again.returncode == 2, again.stderr
        assert "already exists" in again.stderr
        assert "--resume" in again.stderr and "--force" in again.stderr
        assert "completed" not in again.stderr
    assert _task_md(rig) == "FAKE: write-done\n"
    assert len(rig.runs("p", "t")) == 1
    assert (rig.root.task_dir("p", "t") / "DONE").exists()


def test_an_existing_unfinished_task_is_refused_without_a_flag(rig: RunnerEnv) -> None:
    failed = rig.run(
        "task",
        "--project",
        "p",
        "--task",
        "t",
        "--prompt",
        "FAKE: answer no",
        "--max-restarts",
        "0",
    )
    assert failed.returncode == 1, failed.stderr
    again = rig.run("task", "--project", "p", "--task", "t", "--prompt", "other")
    assert again.returncode == 2 and "already exists" in again.stderr
    bare = rig.run("task", "--project", "p", "--task", "t")
    assert bare.returncode == 2 and "--resume" in bare.stderr
    assert _task_md(rig) == "FAKE: answer no\n"
    assert len(rig.runs("p", "t")) == 1


def test_resume_continues_a_done_task_with_its_prompt(rig: RunnerEnv) -> None:
    prompt = 'FAKE: run test -f "$JRUN_TASK_FOLDER/go" && touch "$JRUN_TASK_FOLDER/DONE"; true'
    (rig.root.task_dir("p", "t")).mkdir(parents=True)
    (rig.root.task_dir("p", "t") / "go").touch()
    assert rig.run("task", "--project", "p", "--task", "t", "--prompt", prompt).returncode == 0
    resumed = rig.run("task", "--project", "p", "--task", "t", "--resume", "--max-restarts", "0")
    assert resumed.returncode == 0, resumed.stderr
    assert "(1 run(s))" in resumed.stderr
    first, second = rig.runs("p", "t")
    assert second.previous_run_id == first.run_id
    assert "Continue working on the following" in Path(second.prompt_path).read_text()
    assert _task_md(rig) == prompt + "\n"
    with_prompt = rig.run("task", "--project", "p", "--task", "t", "--resume", "--prompt", "x")
    assert with_prompt.returncode == 2 and "--force" in with_prompt.stderr
    assert _task_md(rig) == prompt + "\n"


def test_force_replaces_the_prompt_and_runs_again(rig: RunnerEnv) -> None:
    assert (
        rig.run("task", "--project", "p", "--task", "t", "--prompt", "FAKE: write-done").returncode
        == 0
    )
    forced = rig.run(
        "task",
        "--project",
        "p",
        "--task",
        "t",
        "--force",
        "--prompt",
        "FAKE: write-done\nFAKE: answer second",
    )
    assert forced.returncode == 0, forced.stderr
    assert _task_md(rig) == "FAKE: write-done\nFAKE: answer second\n"
    assert len(rig.runs("p", "t")) == 2


def test_resume_of_a_missing_task_creates_nothing(rig: RunnerEnv) -> None:
    missing = rig.run("task", "--project", "p", "--task", "nope", "--resume")
    assert missing.returncode == 2 and "error: project p not found" in missing.stderr
    assert "loop started" not in missing.stderr
    assert not rig.root.project_dir("p").exists()


def test_a_prepared_task_md_without_runs_is_started(rig: RunnerEnv) -> None:
    """A TASK.md written beforehand (by hand, or by the server before it launches the
    loop) is the task's prompt: ``task`` without a prompt runs it."""
    task_dir = rig.root.task_dir("p", "t")
    task_dir.mkdir(parents=True)
    (task_dir / "TASK.md").write_text("FAKE: write-done\n")
    done = rig.run("task", "--project", "p", "--task", "t")
    assert done.returncode == 0, done.stderr
    assert len(rig.runs("p", "t")) == 1
