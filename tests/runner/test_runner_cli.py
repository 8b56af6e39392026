"""The local CLI around runs: list, status, output, gc, validate, and path safety."""

from __future__ import annotations

import json

import pytest

from conductor_loop.storage.runinfo import read_run_info, write_run_info
from tests.runner.conftest import RunnerEnv
from tests.support import HOSTILE_IDS

# NUL cannot travel in argv; the validator's own table (tests/unit) covers it there.
ARGV_IDS = [(label, value) for label, value in HOSTILE_IDS if "\x00" not in value]


@pytest.mark.parametrize(("label", "bad"), ARGV_IDS, ids=[label for label, _ in ARGV_IDS])
def test_hostile_ids_are_rejected_by_every_runner_command(
    rig: RunnerEnv, label: str, bad: str
) -> None:
    before = sorted(p for p in rig.tmp.rglob("*"))
    commands = [
        ["job", "--project", bad, "--task", "t", "--prompt", "FAKE: answer x"],
        ["job", "--project", "p", "--task", bad, "--prompt", "FAKE: answer x"],
        ["task", "--project", bad, "--task", "t", "--prompt", "x"],
        ["task", "--project", "p", "--task", bad, "--prompt", "x"],
        ["task", "--project", "p", "--task", "t", "--depends-on", bad, "--prompt", "x"],
        ["stop", "--run", bad],
        ["status", "--run", bad],
        ["output", "--run", bad],
        ["list", "--project", bad],
        ["resume", "--project", "p", "--task", bad],
    ]
    if bad:  # an empty parent run id just means "no parent"
        commands.append(
            ["job", "--project", "p", "--task", "t", "--parent-run-id", bad, "--prompt", "x"]
        )
    for args in commands:
        done = rig.run(*args)
        assert done.returncode != 0, args
        assert "error" in done.stderr.lower(), (args, done.stderr)
    after = sorted(p for p in rig.tmp.rglob("*"))
    created = [p for p in after if p not in before]
    assert all(rig.root.path in p.parents for p in created), created
    assert not list(rig.root.path.rglob("x" * 5 + "*"))


def test_list_status_output(rig: RunnerEnv) -> None:
    assert (
        rig.run(
            "task",
            "--project",
            "p",
            "--task",
            "t",
            "--prompt",
            "FAKE: write-done\nFAKE: answer the answer",
        ).returncode
        == 0
    )
    projects = json.loads(rig.run("list", "--json").stdout)
    assert projects == [{"project_id": "p", "tasks": 1}]
    tasks = json.loads(rig.run("list", "--project", "p", "--json").stdout)
    assert tasks[0]["task_id"] == "t" and tasks[0]["done"] is True and tasks[0]["runs"] == 1
    runs = json.loads(rig.run("list", "--project", "p", "--task", "t", "--json").stdout)
    assert len(runs) == 1 and runs[0]["status"] == "completed"
    table = rig.run("list", "--project", "p", "--task", "t").stdout
    assert runs[0]["run_id"] in table and "completed" in table
    status = json.loads(rig.run("status", "--project", "p", "--task", "t", "--json").stdout)
    assert status["run_id"] == runs[0]["run_id"]
    assert rig.run("output", "--project", "p", "--task", "t").stdout.strip() == "the answer"
    prompt = rig.run("output", "--run", runs[0]["run_id"], "--file", "prompt", "--tail", "1").stdout
    assert prompt.strip() == "FAKE: answer the answer"
    missing = rig.run("status", "--run", "20990101-0000000000-1-1")
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_gc_deletes_only_old_finished_runs(rig: RunnerEnv) -> None:
    for _ in range(2):
        assert (
            rig.run("job", "--project", "p", "--task", "t", "--prompt", "FAKE: answer x").returncode
            == 0
        )
    old_id, new_id = rig.root.run_ids("p", "t")
    old_dir = rig.root.run_dir("p", "t", old_id)
    info = read_run_info(old_dir)
    info.end_time = "2020-01-01T00:00:00.000Z"
    write_run_info(old_dir, info)
    dry = rig.run("gc", "--older-than", "1d", "--dry-run")
    assert dry.returncode == 0 and old_id in dry.stdout and new_id not in dry.stdout
    assert old_dir.exists()
    real = rig.run("gc", "--older-than", "1d")
    assert real.returncode == 0
    assert rig.root.run_ids("p", "t") == [new_id]


def test_validate_reports_usable_and_unusable_agents(rig: RunnerEnv) -> None:
    config = rig.config_path.read_text() + ""
    config = config.replace(f"command: {rig.bin_dir / 'gemini'}", "command: /nonexistent/gemini")
    rig.config_path.write_text(config)
    done = rig.run("validate", "--json")
    results = {r["agent"]: r for r in json.loads(done.stdout)}
    assert results["claude"]["usable"] and results["claude"]["version"]
    assert not results["gemini"]["usable"] and "gemini" in results["gemini"]["reason"]
    assert done.returncode == 0
