"""`run-agent job`: the spec §6 sequence with real processes and a fake agent CLI."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from conductor_loop.bus.reader import read_all
from conductor_loop.runner.process import pid_alive
from conductor_loop.storage.layout import OUTPUT_FILE, PROMPT_FILE
from conductor_loop.storage.runinfo import RUN_INFO_FILE, read_run_info
from conductor_loop.storage.usage import Usage
from tests.runner.conftest import TOKEN, RunnerEnv, agent_pid
from tests.support import wait_until


def _only_run(rig: RunnerEnv, project: str = "p", task: str = "t") -> Path:
    run_ids = rig.root.run_ids(project, task)
    assert len(run_ids) == 1, run_ids
    return rig.root.run_dir(project, task, run_ids[0])


def test_job_records_a_completed_run(rig: RunnerEnv) -> None:
    done = rig.run(
        "job",
        "--project",
        "p",
        "--task",
        "t",
        "--agent",
        "claude",
        "--prompt",
        "FAKE: answer hello world",
    )
    assert done.returncode == 0, done.stderr
    run_dir = _only_run(rig)
    info = read_run_info(run_dir)
    assert info.status == "completed" and info.exit_code == 0
    assert info.agent == "claude" and info.process_ownership == "managed"
    assert info.pid > 0 and info.pgid == info.pid and info.runner_pid > 0
    assert info.start_time and info.end_time and info.end_time >= info.start_time
    assert info.commandline.split()[1:] == [
        "-p",
        "--input-format",
        "text",
        "--output-format",
        "stream-json",
        "--verbose",
        "--tools",
        "default",
        "--permission-mode",
        "bypassPermissions",
    ]
    assert Path(info.output_path) == run_dir / OUTPUT_FILE
    assert (run_dir / OUTPUT_FILE).read_text().strip() == "hello world"
    prompt = (run_dir / PROMPT_FILE).read_text()
    assert prompt.startswith(
        f"JRUN_TASK_FOLDER={rig.root.task_dir('p', 't')}\nJRUN_RUN_FOLDER={run_dir}\n"
    )
    assert f"Write output.md to {run_dir / OUTPUT_FILE}" in prompt
    assert prompt.rstrip().endswith("FAKE: answer hello world")
    assert "Continue working" not in prompt
    types = [m.type for m in read_all(rig.root.task_bus("p", "t"))]
    assert types == ["RUN_START", "RUN_STOP"]
    assert info.agent_version  # detected from `claude --version`
    for path in run_dir.iterdir():
        assert TOKEN not in path.read_text(errors="replace"), path


def test_exit_code_mirrors_the_agent_and_failure_is_a_crash(rig: RunnerEnv) -> None:
    done = rig.run("job", "--project", "p", "--task", "t", "--prompt", "FAKE: exit 3")
    assert done.returncode == 3
    info = read_run_info(_only_run(rig))
    assert info.status == "failed" and info.exit_code == 3 and info.error_summary
    assert rig.task_bus_types("p", "t") == ["RUN_START", "RUN_CRASH"]
    assert (_only_run(rig) / OUTPUT_FILE).exists()


def _job(rig: RunnerEnv, agent: str, prompt: str) -> Path:
    rig.run("job", "--project", "p", "--task", "t", "--agent", agent, "--prompt", prompt)
    return _only_run(rig)


def test_job_records_the_agents_usage(rig: RunnerEnv) -> None:
    run_dir = _job(rig, "claude", "FAKE: usage 1200 50 1000 0.0123")
    info = read_run_info(run_dir)
    assert info.status == "completed"
    assert info.usage == Usage(1200, 50, 1000, 0.0123)
    assert (
        (run_dir / RUN_INFO_FILE)
        .read_text()
        .endswith(
            "usage:\n  input_tokens: 1200\n  output_tokens: 50\n  cached_input_tokens: 1000\n"
            "  cost_usd: 0.0123\n"
        )
    )


def test_pricing_gives_the_cost_when_the_agent_reports_none(rig: RunnerEnv) -> None:
    text = rig.config_path.read_text().replace(
        "    type: codex\n",
        "    type: codex\n"
        "    pricing: {input_per_mtok: 2, output_per_mtok: 10, cached_input_per_mtok: 0.5}\n",
    )
    rig.config_path.write_text(text)
    info = read_run_info(_job(rig, "codex", "FAKE: usage 1200 50 1000"))
    # 200 uncached input at $2/M + 1000 cached at $0.50/M + 50 output at $10/M
    assert info.usage == Usage(1200, 50, 1000, 0.0014)


def test_a_failed_run_keeps_the_usage_it_reported(rig: RunnerEnv) -> None:
    info = read_run_info(_job(rig, "gemini", "FAKE: usage 30 4\nFAKE: error overloaded"))
    assert info.status == "failed" and info.exit_code == 1
    assert info.usage == Usage(30, 4, 0)  # gemini reports no cost, and none is configured


def test_a_run_that_reported_nothing_has_no_usage(rig: RunnerEnv) -> None:
    run_dir = _job(rig, "claude", "FAKE: crash 5")
    assert read_run_info(run_dir).usage is None
    assert "usage" not in (run_dir / RUN_INFO_FILE).read_text()


def test_agent_env_contract(rig: RunnerEnv) -> None:
    dump = 'FAKE: run env > "$JRUN_RUN_FOLDER/env.txt"'
    done = rig.run(
        "job",
        "--project",
        "p",
        "--task",
        "t",
        "--prompt",
        dump,
        JRUN_ID="caller-tried-this",
        JRUN_TASK_FOLDER="/nope",
        JRUN_PROJECT_ID="p",
    )
    assert done.returncode == 0, done.stderr
    run_dir = _only_run(rig)
    env = dict(
        line.split("=", 1) for line in (run_dir / "env.txt").read_text().splitlines() if "=" in line
    )
    info = read_run_info(run_dir)
    assert env["JRUN_ID"] == info.run_id
    assert env["JRUN_PROJECT_ID"] == "p" and env["JRUN_TASK_ID"] == "t"
    assert env["JRUN_TASK_FOLDER"] == str(rig.root.task_dir("p", "t"))
    assert env["JRUN_RUN_FOLDER"] == str(run_dir)
    assert env["JRUN_MESSAGE_BUS"] == str(rig.root.task_bus("p", "t"))
    assert env["JRUN_RUNS_DIR"] == str(rig.root.path)
    # the caller's JRUN_ID became the parent (the job was started "from inside a run")
    assert env["JRUN_PARENT_ID"] == "caller-tried-this" == info.parent_run_id
    assert env["ANTHROPIC_API_KEY"] == TOKEN
    path_dirs = env["PATH"].split(os.pathsep)
    # first the agents' run-agent launcher (runner.agent_launcher), then the console scripts
    assert Path(path_dirs[0], "run-agent").read_text().startswith(f"#!{sys.executable} -S\n")
    assert path_dirs[1] == str(rig.run_agent_exe.parent)
    assert path_dirs.count(str(rig.run_agent_exe.parent)) == 1


def test_timeout_kills_the_whole_group(rig: RunnerEnv) -> None:
    # The agent would sleep far past the 30 s guard below: only the timeout can end it.
    prompt = "FAKE: spawn-grandchild\nFAKE: sleep 600"
    done = rig.run(
        "job", "--project", "p", "--task", "t", "--prompt", prompt, "--timeout", "1s", timeout=30
    )
    info = read_run_info(_only_run(rig))
    assert info.status == "failed" and info.error_summary == "timed out after 1s"
    assert info.exit_code == 124  # the runner's timeout, as timeout(1)
    assert done.returncode != 0
    grandchild = int((_only_run(rig) / "grandchild.pid").read_text())
    wait_until(
        lambda: not pid_alive(grandchild),
        5,
        "grandchild to die",
    )
    assert not pid_alive(info.pid)


def test_output_md_falls_back_to_stdout(rig: RunnerEnv) -> None:
    done = rig.run(
        "job",
        "--project",
        "p",
        "--task",
        "t",
        "--agent",
        "claude",
        "--prompt",
        "FAKE: no-result\nFAKE: exit 0",
    )
    assert done.returncode == 0, done.stderr
    run_dir = _only_run(rig)
    assert (run_dir / OUTPUT_FILE).read_text() != ""


def test_follow_streams_output_live(rig: RunnerEnv) -> None:
    proc = rig.start(
        "job",
        "--project",
        "p",
        "--task",
        "t",
        "-f",
        "--prompt",
        "FAKE: print-lines 20 0.05\nFAKE: answer fin",
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first  # something arrived while the agent was still printing
    run_dir = wait_until(lambda: rig.root.run_ids("p", "t") and _only_run(rig), 10, "run dir")
    assert isinstance(run_dir, Path)
    assert read_run_info(run_dir).status == "running"
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "fin" in first + rest


def test_stop_of_agent_ignoring_sigterm_kills_it_and_grandchild(rig: RunnerEnv) -> None:
    from tests.runner.conftest import write_config

    write_config(rig.config_path, rig.bin_dir, stop_grace_period="1s")
    proc = rig.start(
        "job",
        "--project",
        "p",
        "--task",
        "t",
        "--prompt",
        "FAKE: ignore-sigterm\nFAKE: spawn-grandchild 600\nFAKE: sleep 600",
    )
    run_dir = wait_until(lambda: rig.root.run_ids("p", "t") and _only_run(rig), 10, "run dir")
    assert isinstance(run_dir, Path)
    pid_file = run_dir / "grandchild.pid"
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), 10, "grandchild start")
    info = read_run_info(run_dir)
    grandchild = int((run_dir / "grandchild.pid").read_text())
    stopper = rig.start("stop", "--run", info.run_id)
    wait_until((run_dir / "STOP-REQUEST").exists, 20, "the stop request", interval=0.01)
    # Both ignore SIGTERM and would sleep 600 s: only the SIGKILL after the grace ends them.
    # The guard is below the default grace (30 s), so the configured 1 s must have applied.
    for pid in (info.pid, grandchild):
        wait_until(lambda pid=pid: not pid_alive(pid), 20, f"process {pid} to be killed")
    out, err = stopper.communicate(timeout=30)
    assert stopper.returncode == 0, err
    assert "stopped" in out
    assert read_run_info(run_dir).status == "stopped"
    proc.communicate(timeout=10)
    assert "RUN_STOP" in rig.task_bus_types("p", "t")


def test_stop_request_written_by_another_process(rig: RunnerEnv) -> None:
    from conductor_loop.runner.stop_request import request_stop

    proc = rig.start("job", "--project", "p", "--task", "t", "--prompt", "FAKE: sleep 60")
    run_dir = wait_until(lambda: rig.root.run_ids("p", "t") and _only_run(rig), 10, "run dir")
    assert isinstance(run_dir, Path)
    wait_until(lambda: agent_pid(run_dir) > 0, 10, "agent start")
    request_stop(run_dir, reason="test")
    # The agent would sleep 60 s, past this guard: only the stop request can end the run.
    wait_until(lambda: read_run_info(run_dir).status != "running", 30, "run to stop")
    info = read_run_info(run_dir)
    assert info.status == "stopped" and info.exit_code == 143
    assert info.error_summary.endswith(": test")  # the reason the other process gave
    proc.communicate(timeout=10)


def test_sigkill_of_the_runner_reads_as_failed(rig: RunnerEnv) -> None:
    proc = rig.start("job", "--project", "p", "--task", "t", "--prompt", "FAKE: sleep 60")
    run_dir = wait_until(lambda: rig.root.run_ids("p", "t") and _only_run(rig), 10, "run dir")
    assert isinstance(run_dir, Path)
    wait_until(lambda: agent_pid(run_dir) > 0, 10, "agent start")
    orphan = read_run_info(run_dir).pid
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    # Several processes notice at once; one records the failure and tells the bus.
    lookers = [rig.start("status", "--run-dir", str(run_dir), "--json") for _ in range(4)]
    for looker in lookers:
        out, err = looker.communicate(timeout=60)
        assert looker.returncode == 0, err
        assert '"status": "failed"' in out
    info = read_run_info(run_dir)
    assert info.status == "failed" and "exited without recording" in info.error_summary
    wait_until(
        lambda: not pid_alive(orphan),
        5,
        "orphan agent to be terminated",
    )
    assert rig.run("status", "--run-dir", str(run_dir)).returncode == 0
    crashes = [
        m
        for m in read_all(rig.root.task_bus("p", "t"))
        if m.type == "RUN_CRASH" and m.run_id == info.run_id
    ]
    assert len(crashes) == 1
    assert info.error_summary in crashes[0].body


def test_concurrency_limit_across_processes(rig: RunnerEnv) -> None:
    from tests.runner.conftest import write_config

    write_config(rig.config_path, rig.bin_dir, max_concurrent_runs=2)
    log = rig.tmp / "intervals.log"
    prompt = (
        f'FAKE: run echo "start $(date +%s.%N)" >> {log}\n'
        "FAKE: sleep 0.6\n"
        f'FAKE: run echo "end $(date +%s.%N)" >> {log}'
    )
    procs = [
        rig.start("job", "--project", "p", "--task", f"t{i}", "--prompt", prompt) for i in range(5)
    ]
    for proc in procs:
        proc.communicate(timeout=60)
        assert proc.returncode == 0
    events = sorted(
        (float(ts), kind) for kind, ts in (line.split() for line in log.read_text().splitlines())
    )
    running = peak = 0
    for _ts, kind in events:
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    assert len(events) == 10
    assert peak == 2
    # The slots live in the state dir: under the runs root the Go tool would list them as
    # a project (issue 12).
    assert sorted(p.name for p in rig.root.path.iterdir()) == ["p"]


def test_a_job_leaves_its_prompt_as_task_md_of_a_new_task_only(rig: RunnerEnv) -> None:
    """As the Go tool does (issue 12): a job that creates a task writes its TASK.md."""
    first = rig.run("job", "--project", "p", "--task", "new", "--prompt", "FAKE: answer one")
    assert first.returncode == 0, first.stderr
    task_md = rig.root.task_dir("p", "new") / "TASK.md"
    assert task_md.read_text(encoding="utf-8") == "FAKE: answer one\n"
    second = rig.run("job", "--project", "p", "--task", "new", "--prompt", "FAKE: answer two")
    assert second.returncode == 0, second.stderr
    assert task_md.read_text(encoding="utf-8") == "FAKE: answer one\n"  # never rewritten
    assert len(rig.root.run_ids("p", "new")) == 2
