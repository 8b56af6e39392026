"""The fake agent CLI: each flavour's events read right with the real backend's parser, and
every directive the runner tests rely on does what its docstring says."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conductor_loop.agents.base import AgentResult, CliBackend
from conductor_loop.agents.registry import backend_for
from tests.fakes import FAKE_AGENT, FLAVORS, install_fake_agents
from tests.support import validate_agent

TOKEN = "fake-agent-test-token"


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    return install_fake_agents(tmp_path / "bin")


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    task_dir = tmp_path / "task"
    run_dir = task_dir / "runs" / "run-1"
    run_dir.mkdir(parents=True)
    return task_dir, run_dir


@pytest.fixture
def env(folders: tuple[Path, Path]) -> dict[str, str]:
    task_dir, run_dir = folders
    base = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_AGENT")}
    return {
        **base,
        "JRUN_TASK_FOLDER": str(task_dir),
        "JRUN_RUN_FOLDER": str(run_dir),
        "JRUN_ID": "run-1",
        "ANTHROPIC_API_KEY": TOKEN,
    }


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test started in their own session; their groups are killed after it."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _backend(flavor: str) -> CliBackend:
    backend = backend_for(flavor, validate_agent({"type": flavor}))
    assert isinstance(backend, CliBackend)
    return backend


def _run(
    bin_dir: Path,
    flavor: str,
    prompt: str,
    env: dict[str, str],
    *args: str,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / flavor), *args],
        input=prompt,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=30,
        check=False,
    )


def _wait_for(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(
    ("flavor", "version"),
    [("claude", "2.1.197 (Claude Code)"), ("codex", "codex-cli 0.171.0"), ("gemini", "0.61.0")],
)
def test_version_per_flavour(bin_dir: Path, env: dict[str, str], flavor: str, version: str) -> None:
    done = _run(bin_dir, flavor, "", env, "--version")
    assert (done.returncode, done.stdout.strip()) == (0, version)


def test_flavour_from_the_name_of_a_symlink(tmp_path: Path, env: dict[str, str]) -> None:
    link = tmp_path / "codex"
    link.symlink_to(FAKE_AGENT)
    done = subprocess.run(
        [str(link), "--version"], capture_output=True, text=True, env=env, check=False
    )
    assert done.stdout.strip() == "codex-cli 0.171.0"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_plain_answer_parses_with_the_flavours_backend(
    bin_dir: Path, env: dict[str, str], flavor: str
) -> None:
    prompt = "Say hi.\nFAKE: answer hello there\nFAKE: answer second line\n"
    done = _run(bin_dir, flavor, prompt, env, *_backend(flavor).argv()[1:])
    assert done.returncode == 0, done.stderr
    result = _backend(flavor).parse_stdout(done.stdout)
    assert result.final_text == "hello there\nsecond line"
    assert result.error is None
    assert result.input_tokens and result.output_tokens


@pytest.mark.parametrize("flavor", FLAVORS)
def test_default_answer(bin_dir: Path, env: dict[str, str], flavor: str) -> None:
    done = _run(bin_dir, flavor, "no directives here", env)
    assert _backend(flavor).parse_stdout(done.stdout).final_text == f"OK from fake {flavor}"


@pytest.mark.parametrize(
    ("flavor", "args"),
    [("claude", ["--model", "m-x"]), ("codex", ["-c", 'model="m-x"']), ("gemini", ["-m", "m-x"])],
)
def test_model_flag_is_reported(
    bin_dir: Path, env: dict[str, str], flavor: str, args: list[str]
) -> None:
    done = _run(bin_dir, flavor, "", env, *args)
    expected = None if flavor == "codex" else "m-x"  # codex's stream names no model
    assert _backend(flavor).parse_stdout(done.stdout).model == expected


@pytest.mark.parametrize("flavor", FLAVORS)
def test_tool_call_then_answer(bin_dir: Path, env: dict[str, str], flavor: str) -> None:
    prompt = 'FAKE: run echo "tool says $JRUN_ID"\nFAKE: answer after the tool'
    done = _run(bin_dir, flavor, prompt, env)
    assert done.returncode == 0, done.stderr
    assert "tool says run-1" in done.stdout
    assert _backend(flavor).parse_stdout(done.stdout).final_text == "after the tool"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_error_directive(bin_dir: Path, env: dict[str, str], flavor: str) -> None:
    done = _run(bin_dir, flavor, "FAKE: error API Error: 500 overloaded", env)
    assert done.returncode == 1
    assert _backend(flavor).parse_stdout(done.stdout).error == "API Error: 500 overloaded"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_exit_code_keeps_the_answer(bin_dir: Path, env: dict[str, str], flavor: str) -> None:
    done = _run(bin_dir, flavor, "FAKE: answer partial\nFAKE: exit 3\nFAKE: answer never", env)
    assert done.returncode == 3
    assert _backend(flavor).parse_stdout(done.stdout).final_text == "partial"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_usage_directive_sets_the_reported_figures(
    bin_dir: Path, env: dict[str, str], flavor: str
) -> None:
    done = _run(bin_dir, flavor, "FAKE: usage 1200 50 1000 0.0123", env)
    assert done.returncode == 0, done.stderr
    result = _backend(flavor).parse_stdout(done.stdout)
    figures = (result.input_tokens, result.output_tokens, result.cached_input_tokens)
    assert figures == (1200, 50, 1000)
    assert result.cost_usd == (0.0123 if flavor == "claude" else None)


@pytest.mark.parametrize("flavor", ["claude", "gemini"])
def test_usage_directive_also_reports_on_an_error_end(
    bin_dir: Path, env: dict[str, str], flavor: str
) -> None:
    done = _run(bin_dir, flavor, "FAKE: usage 30 4\nFAKE: error overloaded", env)
    assert done.returncode == 1
    result = _backend(flavor).parse_stdout(done.stdout)
    assert (result.error, result.input_tokens, result.output_tokens) == ("overloaded", 30, 4)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_crash_and_no_result_leave_no_answer(
    bin_dir: Path, env: dict[str, str], flavor: str
) -> None:
    crashed = _run(bin_dir, flavor, "FAKE: crash 7", env)
    assert crashed.returncode == 7
    assert _backend(flavor).parse_stdout(crashed.stdout) == AgentResult(
        model=_backend(flavor).parse_stdout(crashed.stdout).model
    )
    silent = _run(bin_dir, flavor, "FAKE: no-result\nFAKE: exit 0", env)
    assert silent.returncode == 0
    assert silent.stdout.strip()
    assert _backend(flavor).parse_stdout(silent.stdout).final_text is None


def test_write_done_and_output(
    bin_dir: Path, env: dict[str, str], folders: tuple[Path, Path]
) -> None:
    task_dir, run_dir = folders
    done = _run(
        bin_dir, "claude", "FAKE: answer the end\nFAKE: write-output\nFAKE: write-done", env
    )
    assert done.returncode == 0, done.stderr
    assert (task_dir / "DONE").read_text() == ""
    assert (run_dir / "output.md").read_text() == "the end\n"
    _run(bin_dir, "claude", "FAKE: write-output custom text", env)
    assert (run_dir / "output.md").read_text() == "custom text\n"


def test_missing_jrun_folder_is_an_error(bin_dir: Path, env: dict[str, str]) -> None:
    del env["JRUN_TASK_FOLDER"]
    done = _run(bin_dir, "codex", "FAKE: write-done", env)
    assert done.returncode == 2
    assert "$JRUN_TASK_FOLDER is not set" in done.stderr


def test_exit_if_done(bin_dir: Path, env: dict[str, str], folders: tuple[Path, Path]) -> None:
    task_dir, _ = folders
    prompt = "FAKE: exit-if-done\nFAKE: exit 5"
    assert _run(bin_dir, "gemini", prompt, env).returncode == 5
    (task_dir / "DONE").touch()
    assert _run(bin_dir, "gemini", prompt, env).returncode == 0


def test_invocation_conditions(
    bin_dir: Path, env: dict[str, str], folders: tuple[Path, Path]
) -> None:
    task_dir, _ = folders
    prompt = "FAKE@1: exit 3\nFAKE@2: answer second\nFAKE@3+: write-done\nFAKE: answer always"
    first = _run(bin_dir, "codex", prompt, env)
    second = _run(bin_dir, "codex", prompt, env)
    assert (first.returncode, second.returncode) == (3, 0)
    assert _backend("codex").parse_stdout(second.stdout).final_text == "second\nalways"
    assert not (task_dir / "DONE").exists()
    assert _run(bin_dir, "codex", prompt, env).returncode == 0
    assert (task_dir / "DONE").exists()


@pytest.mark.parametrize("suffix", ["json", "yaml"])
def test_script_file(bin_dir: Path, env: dict[str, str], tmp_path: Path, suffix: str) -> None:
    steps = ["answer from the script", {"stderr": "to stderr"}, {"exit": 4}]
    script = tmp_path / f"script.{suffix}"
    if suffix == "json":
        script.write_text(json.dumps(steps), encoding="utf-8")
    else:
        script.write_text(
            "- answer from the script\n- stderr: to stderr\n- exit: 4\n", encoding="utf-8"
        )
    env["FAKE_AGENT_SCRIPT"] = str(script)
    done = _run(bin_dir, "claude", "FAKE: answer never reached", env)
    assert done.returncode == 4
    assert done.stderr.strip() == "to stderr"
    assert _backend("claude").parse_stdout(done.stdout).final_text == "from the script"


def test_dump_context(bin_dir: Path, env: dict[str, str], folders: tuple[Path, Path]) -> None:
    _, run_dir = folders
    done = _run(bin_dir, "gemini", "hello\nFAKE: dump-context", env, "-m", "x", cwd=run_dir)
    assert done.returncode == 0, done.stderr
    context = json.loads((run_dir / "fake-context.json").read_text())
    assert context["argv"][1:] == ["-m", "x"]
    assert context["flavor"] == "gemini"
    assert context["cwd"] == str(run_dir)
    assert context["env"]["JRUN_ID"] == "run-1"
    assert context["prompt"] == "hello\nFAKE: dump-context"
    assert context["pid"] > 0


def test_unknown_directive_fails_loudly(bin_dir: Path, env: dict[str, str]) -> None:
    done = _run(bin_dir, "claude", "FAKE: wrtie-done", env)
    assert done.returncode == 2
    assert "unknown directive 'wrtie-done'" in done.stderr


def test_wait_file_gives_up(bin_dir: Path, env: dict[str, str], tmp_path: Path) -> None:
    done = _run(bin_dir, "codex", f"FAKE: wait-file {tmp_path / 'never'} 0.2", env)
    assert done.returncode == 2
    assert "did not appear" in done.stderr


def test_lines_stream_while_the_agent_runs(
    bin_dir: Path, env: dict[str, str], tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    go = tmp_path / "go"
    process = subprocess.Popen(
        [str(bin_dir / "gemini")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    processes.append(process)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(f"FAKE: print-lines 3 0.01\nFAKE: wait-file {go}\nFAKE: answer end\n")
    process.stdin.close()
    seen: list[str] = []
    while not any("line 3 of 3" in line for line in seen):
        line = process.stdout.readline()
        assert line, "stdout closed before the lines arrived"
        seen.append(line)
    assert process.poll() is None  # still waiting for "go": the lines came out live
    go.touch()
    rest = process.stdout.read()
    assert process.wait(timeout=10) == 0
    result = _backend("gemini").parse_stdout("".join(seen) + rest)
    assert result.final_text == "line 1 of 3\nline 2 of 3\nline 3 of 3\nend"


def test_ignore_sigterm(
    bin_dir: Path, env: dict[str, str], tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [str(bin_dir / "claude")],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )
    processes.append(process)
    assert process.stdin is not None
    process.stdin.write(f"FAKE: ignore-sigterm\nFAKE: touch {ready}\nFAKE: sleep 30\n")
    process.stdin.close()
    _wait_for(ready)
    process.send_signal(signal.SIGTERM)
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.3)
    process.kill()
    assert process.wait(timeout=5) == -signal.SIGKILL


def test_spawn_grandchild_that_ignores_sigterm(
    bin_dir: Path,
    env: dict[str, str],
    folders: tuple[Path, Path],
    processes: list[subprocess.Popen[str]],
) -> None:
    _, run_dir = folders
    process = subprocess.Popen(
        [str(bin_dir / "codex")],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )
    processes.append(process)
    assert process.stdin is not None
    process.stdin.write("FAKE: spawn-grandchild 30\nFAKE: answer spawned\n")
    process.stdin.close()
    assert process.wait(timeout=10) == 0
    pid_file = run_dir / "grandchild.pid"
    grandchild = int(pid_file.read_text())
    assert os.getpgid(grandchild) == process.pid  # same group: a group kill reaches it
    os.kill(grandchild, signal.SIGTERM)
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        assert _alive(grandchild)
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(grandchild)
