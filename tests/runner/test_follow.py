"""`run-agent job -f` and `task --follow` print the agent's transcript as readable text,
and `--json` prints one object describing the job or task at the end."""

from __future__ import annotations

import json
import re

from tests.runner.conftest import RunnerEnv

ANSI = re.compile(r"\x1b\[")


def _no_json_lines(text: str) -> None:
    assert not [line for line in text.splitlines() if line.lstrip().startswith("{")], text


def test_job_follow_renders_the_transcript(rig: RunnerEnv) -> None:
    prompt = "FAKE: print-lines 2 0.01\nFAKE: run echo one; echo two\nFAKE: answer fin"
    for flavour in ("claude", "codex", "gemini"):
        done = rig.run(
            "job", "--project", "p", "--task", f"t-{flavour}", "--agent", flavour, "-f",
            "--prompt", prompt,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        _no_json_lines(done.stdout)
        lines = done.stdout.splitlines()
        assert lines[0].startswith(f"session: {flavour}"), lines
        assert "▸ tool shell: echo one; echo two" in lines or (
            "▸ tool Bash: echo one; echo two" in lines
            or "▸ tool run_shell_command: echo one; echo two" in lines
        ), lines
        assert "  ↳ 2 lines" in lines[lines.index(next(x for x in lines if "▸" in x)) + 1]
        assert "assistant: fin" in lines, lines
        assert lines[-1].startswith("usage: "), lines
        assert not ANSI.search(done.stdout)  # not a tty


def test_job_follow_raw_prints_the_json_lines(rig: RunnerEnv) -> None:
    done = rig.run(
        "job", "--project", "p", "--task", "t", "-f", "--raw", "--prompt", "FAKE: answer fin"
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[0]["type"] == "system" and events[-1]["type"] == "result"


def test_follow_has_no_colour_with_no_color(rig: RunnerEnv) -> None:
    done = rig.run(
        "job", "--project", "p", "--task", "t", "-f", "--prompt", "FAKE: answer fin", NO_COLOR="1"
    )
    assert done.returncode == 0 and "assistant: fin" in done.stdout
    assert not ANSI.search(done.stdout + done.stderr)


def test_job_json_describes_the_run(rig: RunnerEnv) -> None:
    done = rig.run(
        "job",
        "--project",
        "p",
        "--task",
        "t",
        "--json",
        "--prompt",
        "FAKE: usage 10 5\nFAKE: exit 3",
    )
    assert done.returncode == 3, done.stderr
    data = json.loads(done.stdout)
    (run_id,) = rig.root.run_ids("p", "t")
    assert data["run_id"] == run_id
    assert (data["project_id"], data["task_id"]) == ("p", "t")
    assert (data["status"], data["exit_code"]) == ("failed", 3)
    assert data["output_path"].endswith("output.md")
    assert data["usage"]["input_tokens"] == 10 and data["usage"]["output_tokens"] == 5
    assert "--json" in rig.run("job", "--help").stdout


def test_task_follow_shows_each_run_in_turn(rig: RunnerEnv) -> None:
    prompt = "FAKE@1: answer first run\nFAKE@2: answer second run\nFAKE@2: write-done"
    done = rig.run(
        "task", "--project", "p", "--task", "t", "--follow", "--json", "--prompt", prompt
    )
    assert done.returncode == 0, done.stderr
    *transcript, last = done.stdout.splitlines()
    _no_json_lines("\n".join(transcript))
    run_ids = rig.root.run_ids("p", "t")
    assert len(run_ids) == 2
    headers = [i for i, line in enumerate(transcript) if line.startswith("── run ")]
    assert [transcript[i] for i in headers] == [
        f"── run 1 ({run_ids[0]}) ──",
        f"── run 2 ({run_ids[1]}) ──",
    ]
    first = transcript[headers[0] : headers[1]]
    second = transcript[headers[1] :]
    assert "assistant: first run" in first and "assistant: second run" in second
    assert first[-1].startswith("usage: ") and second[-1].startswith("usage: ")
    data = json.loads(last)
    assert (data["project_id"], data["task_id"], data["status"]) == ("p", "t", "completed")
    assert [run["run_id"] for run in data["runs"]] == run_ids
    assert all(run["status"] and "exit_code" in run for run in data["runs"])
    assert "--json" in rig.run("task", "--help").stdout


def test_job_and_task_print_their_id(rig: RunnerEnv) -> None:
    job = rig.run("job", "--project", "p", "--task", "j", "--prompt", "FAKE: answer fin")
    assert job.returncode == 0, job.stderr
    assert job.stdout.splitlines() == rig.root.run_ids("p", "j")
    task = rig.run("task", "--project", "p", "--task", "t", "--prompt", "FAKE: write-done")
    assert task.returncode == 0, task.stderr
    assert task.stdout == "t\n"
