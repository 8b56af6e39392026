"""The local CLI around runs: list, status, output, gc, validate, and path safety."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conductor_loop.storage.runinfo import read_run_info, write_run_info
from tests.runner.conftest import RunnerEnv
from tests.support import HOSTILE_ID_PROBLEMS, SAMPLE_HOSTILE_IDS, SAMPLE_HOSTILE_LABELS


@pytest.mark.parametrize(("label", "bad"), SAMPLE_HOSTILE_IDS, ids=SAMPLE_HOSTILE_LABELS)
def test_hostile_ids_are_rejected_by_every_runner_command(
    rig: RunnerEnv, label: str, bad: str
) -> None:
    (rig.root.path / "p").mkdir()  # so that `resume` gets as far as the task id
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
    commands.append(
        ["job", "--project", "p", "--task", "t", "--parent-run-id", bad, "--prompt", "x"]
    )
    for args in commands:
        done = rig.run(*args)
        assert done.returncode != 0, args
        assert "error" in done.stderr.lower(), (args, done.stderr)
        assert HOSTILE_ID_PROBLEMS[label] in done.stderr, (args, done.stderr)
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


def test_list_and_status_show_usage(rig: RunnerEnv) -> None:
    for agent, prompt in [
        ("claude", "FAKE: usage 1200 50 1000 0.0123"),
        ("claude", "FAKE: usage 300 20 0 0.002"),
        ("codex", "FAKE: usage 100 10"),  # no cost: codex reports none, no pricing is set
    ]:
        done = rig.run("job", "--project", "p", "--task", "t", "--agent", agent, "--prompt", prompt)
        assert done.returncode == 0, done.stderr
    first, second, third = rig.root.run_ids("p", "t")
    runs = {
        r["run_id"]: r
        for r in json.loads(rig.run("list", "--project", "p", "--task", "t", "--json").stdout)
    }
    assert runs[first]["usage"] == {
        "input_tokens": 1200,
        "output_tokens": 50,
        "cached_input_tokens": 1000,
        "cost_usd": 0.0123,
    }
    assert runs[third]["usage"]["cost_usd"] is None
    (task,) = json.loads(rig.run("list", "--project", "p", "--json").stdout)
    assert task["usage"] == {
        "input_tokens": 1600,
        "output_tokens": 80,
        "cached_input_tokens": 1000,
        "cost_usd": pytest.approx(0.0143),
        "runs": 3,
    }
    table = rig.run("list", "--project", "p", "--task", "t").stdout.splitlines()
    assert "TOKENS" in table[0] and "COST" in table[0]
    rows = {line.split()[0]: line for line in table[1:]}
    assert "1.2k/50" in rows[first] and "$0.0123" in rows[first]
    assert "100/10" in rows[third] and rows[third].rstrip().endswith("-")
    tasks_table = rig.run("list", "--project", "p").stdout
    assert "COST" in tasks_table and "$0.0143" in tasks_table
    status = rig.run("status", "--run", first).stdout
    assert "usage    1,200 input tokens (1,000 cached), 50 output, $0.0123" in status.splitlines()
    assert json.loads(rig.run("status", "--run", second, "--json").stdout)["usage"] == {
        "input_tokens": 300,
        "output_tokens": 20,
        "cached_input_tokens": 0,
        "cost_usd": 0.002,
    }


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


def test_prompt_from_a_file_or_stdin(rig: RunnerEnv) -> None:
    prompt_file = rig.tmp / "prompt.txt"
    prompt_file.write_text("FAKE: answer from-a-file\n", encoding="utf-8")
    done = rig.run("job", "--project", "p", "--task", "f", "--prompt-file", str(prompt_file))
    assert done.returncode == 0, done.stderr
    [info] = rig.runs("p", "f")
    assert "FAKE: answer from-a-file" in Path(info.prompt_path).read_text(encoding="utf-8")
    piped = subprocess.run(
        [str(rig.run_agent_exe), "job", "--project", "p", "--task", "s"],
        input="FAKE: answer from-stdin\n",
        env=rig.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    [info] = rig.runs("p", "s")
    assert "FAKE: answer from-stdin" in Path(info.prompt_path).read_text(encoding="utf-8")


@pytest.mark.parametrize("command", ["job", "task"])
def test_bad_prompt_options_are_named(rig: RunnerEnv, command: str) -> None:
    prompt_file = rig.tmp / "prompt.txt"
    prompt_file.write_text("x", encoding="utf-8")
    base = [command, "--project", "p", "--task", "bad"]
    both = rig.run(*base, "--prompt", "x", "--prompt-file", str(prompt_file))
    assert both.returncode == 2
    assert "give --prompt or --prompt-file, not both" in both.stderr
    binary = rig.tmp / "binary.bin"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    unreadable = rig.run(*base, "--prompt-file", str(binary))
    assert unreadable.returncode == 2
    assert "--prompt-file" in unreadable.stderr and "not UTF-8 text" in unreadable.stderr
    missing = rig.run(*base, "--prompt-file", str(rig.tmp / "nope.txt"))
    assert missing.returncode == 2 and "nope.txt" in missing.stderr
    assert not rig.root.run_ids("p", "bad")
