"""``run-agent status``: a summary people can read (counts by status, a table with the
elapsed time), not a dump of run-info keys; ``--json`` keeps the full data."""

from __future__ import annotations

import json

from tests.runner.conftest import RunnerEnv, agent_pid
from tests.support import wait_until

RAW_KEYS = ("process_ownership", "pgid", "commandline", "instance_id", "heartbeat_time")


def test_status_summarises_tasks_and_runs(rig: RunnerEnv) -> None:
    assert (
        rig.run("job", "--project", "p", "--task", "ok", "--prompt", "FAKE: answer hi").returncode
        == 0
    )
    assert (
        rig.run("job", "--project", "p", "--task", "bad", "--prompt", "FAKE: exit 3").returncode
        == 3
    )
    waiting = rig.root.task_dir("q", "later")
    waiting.mkdir(parents=True)
    (waiting / "TASK.md").write_text("x\n")
    (waiting / "QUEUED").write_text("{}\n")
    busy = rig.start("job", "--project", "p", "--task", "busy", "--prompt", "FAKE: sleep 60")
    try:
        wait_until(lambda: rig.root.run_ids("p", "busy"), 20, "the busy run")
        busy_dir = rig.root.run_dir("p", "busy", rig.root.run_ids("p", "busy")[0])
        wait_until(lambda: agent_pid(busy_dir) > 0, 10, "agent pid")

        overview = rig.run("status")
        assert overview.returncode == 0, overview.stderr
        text = overview.stdout
        assert "tasks: 1 running, 1 queued, 1 failed, 1 completed" in text
        assert "runs: 1 running, 1 failed, 1 completed" in text
        table = [line.split() for line in text.splitlines() if line[:2] in ("p ", "q ")]
        rows = {row[1]: row for row in table}
        assert rows["busy"][2] == "running" and rows["busy"][-1].endswith("s")
        assert rows["later"][2] == "queued" and rows["bad"][2] == "failed"
        assert not any(key in text for key in RAW_KEYS)
        order = [row[1] for row in table]
        assert order.index("busy") < order.index("ok"), "running tasks come first"

        data = json.loads(rig.run("status", "--json").stdout)
        assert data["tasks_by_status"] == {"running": 1, "queued": 1, "failed": 1, "completed": 1}
        assert data["runs_by_status"] == {"running": 1, "failed": 1, "completed": 1}
        (busy_task,) = [t for t in data["tasks"] if t["task_id"] == "busy"]
        assert busy_task["last_run"]["status"] == "running"
        assert busy_task["last_run"]["pid"] > 0  # the full run-info

        project = rig.run("status", "--project", "q")
        assert "tasks: 1 queued" in project.stdout and "busy" not in project.stdout
    finally:
        rig.run("stop", "--project", "p", "--task", "busy", "--force")
        busy.communicate(timeout=30)


def test_status_of_one_run_is_a_short_summary(rig: RunnerEnv) -> None:
    assert (
        rig.run("job", "--project", "p", "--task", "bad", "--prompt", "FAKE: exit 3").returncode
        == 3
    )
    one = rig.run("status", "--project", "p", "--task", "bad")
    assert one.returncode == 0, one.stderr
    text = one.stdout
    assert len(text.splitlines()) <= 8, text
    assert "failed" in text and "exit 3" in text and "p/bad" in text
    assert not any(key in text for key in RAW_KEYS)
    full = json.loads(rig.run("status", "--project", "p", "--task", "bad", "--json").stdout)
    assert full["exit_code"] == 3 and "commandline" in full
