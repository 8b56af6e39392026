"""Issue 10 M2: an agent gets only what it needs, through ``run-agent job``.

Its environment is an allow-list (system basics, the ``JRUN_*`` contract, its own token
variable, its configured ``env``), and the config ``CONDUCTOR_CONFIG`` names is a copy
without the other agents' inline secrets and without the API key. Child runs of another
agent still work through ``token_file``; one with an inline token fails clearly.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

from conductor_loop.config.loader import load_config
from conductor_loop.storage.runinfo import read_run_info
from tests.runner.conftest import RunnerEnv

SERVER_SECRET = "secret-marker-OPENAI-3141"
FOO_SECRET = "foo-SECRET-2718"
OWN_ENV_TOKEN = "own-env-SECRET-1618"
CLAUDE_INLINE = "claude-inline-SECRET-1"
CODEX_INLINE = "codex-inline-SECRET-2"
CODEX_FILE_TOKEN = "codex-file-SECRET-3"
GEMINI_FILE_TOKEN = "gemini-file-SECRET-4"
API_KEY = "api-key-SECRET-5"
ENV_SECRET = "env-SECRET-6"
SECRETS = (CLAUDE_INLINE, CODEX_INLINE, CODEX_FILE_TOKEN, GEMINI_FILE_TOKEN, API_KEY, ENV_SECRET)


def _token_file(rig: RunnerEnv, name: str, value: str) -> Path:
    path = rig.tmp / f"{name}.token"
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def _write_config(rig: RunnerEnv, claude: str, codex: str, extra: str = "") -> None:
    """claude and codex fakes with the given token lines; gemini with a token file."""
    gemini_file = _token_file(rig, "gemini", GEMINI_FILE_TOKEN)
    rig.config_path.write_text(
        "agents:\n"
        f"  claude:\n    type: claude\n    command: {rig.bin_dir / 'claude'}\n{claude}"
        f"  codex:\n    type: codex\n    command: {rig.bin_dir / 'codex'}\n"
        f"    model: gpt-test\n{codex}"
        f"  gemini:\n    type: gemini\n    command: {rig.bin_dir / 'gemini'}\n"
        f"    token_file: {gemini_file}\n"
        "defaults:\n  agent: claude\n  restart_delay: 50ms\n  heartbeat_interval: 1s\n"
        f"{extra}",
        encoding="utf-8",
    )


def _runs(rig: RunnerEnv) -> list[Path]:
    return [rig.root.run_dir("p", "t", r) for r in rig.root.run_ids("p", "t")]


def _context(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "fake-context.json").read_text())
    return data


def _job(rig: RunnerEnv, prompt: str, **env: str) -> subprocess.CompletedProcess[str]:
    return rig.run("job", "--project", "p", "--task", "t", "--prompt", prompt, **env)


def test_the_server_environment_does_not_reach_the_agent(rig: RunnerEnv) -> None:
    _write_config(rig, "    env:\n      AGENT_SETTING: from-config\n", "")
    done = _job(
        rig,
        "FAKE: dump-context",
        OPENAI_API_KEY=SERVER_SECRET,
        FOO_SECRET=FOO_SECRET,
        ANTHROPIC_API_KEY=OWN_ENV_TOKEN,
        TZ="UTC",
        LC_TIME="C",
    )
    assert done.returncode == 0, done.stderr
    (run_dir,) = _runs(rig)
    env = _context(run_dir)["env"]
    assert "OPENAI_API_KEY" not in env and "FOO_SECRET" not in env
    assert not [k for k, v in env.items() if SERVER_SECRET in v or FOO_SECRET in v]
    assert env["ANTHROPIC_API_KEY"] == OWN_ENV_TOKEN  # the agent's own token variable
    assert env["AGENT_SETTING"] == "from-config"
    assert env["TZ"] == "UTC" and env["LC_TIME"] == "C" and env["HOME"] == os.environ["HOME"]
    launcher_dir, console_dir = env["PATH"].split(os.pathsep)[:2]
    assert Path(launcher_dir).parent == Path(env["CONDUCTOR_STATE_DIR"], "bin")
    assert console_dir == str(rig.run_agent_exe.parent)
    assert env["JRUN_ID"] == read_run_info(run_dir).run_id
    assert env["CONDUCTOR_ROOT"] == str(rig.root.path)
    assert Path(env["CONDUCTOR_STATE_DIR"]).is_dir()


def test_the_config_an_agent_sees_holds_no_secret(rig: RunnerEnv) -> None:
    _write_config(
        rig,
        f"    token: {CLAUDE_INLINE}\n"
        f"    env:\n      ANTHROPIC_AUTH_TOKEN: {ENV_SECRET}\n      AGENT_SETTING: kept\n",
        f"    token: {CODEX_INLINE}\n",
        f"api:\n  port: 15555\n  api_key: {API_KEY}\nstorage:\n  bus_fsync: true\n",
    )
    done = _job(rig, "FAKE: dump-context")
    assert done.returncode == 0, done.stderr
    (run_dir,) = _runs(rig)
    env = _context(run_dir)["env"]
    assert env["ANTHROPIC_API_KEY"] == CLAUDE_INLINE  # its own secrets it still has
    assert env["ANTHROPIC_AUTH_TOKEN"] == ENV_SECRET
    assert not [k for k, v in env.items() if str(rig.config_path) in v]
    copy = Path(env["CONDUCTOR_CONFIG"])
    text = copy.read_text()
    assert not [s for s in SECRETS if s in text], text
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert stat.S_IMODE(copy.parent.stat().st_mode) == 0o700

    checked = rig.run("config", "validate", "--config", str(copy))
    assert checked.returncode == 0, checked.stderr
    seen = load_config(str(copy), use_cache=False)
    assert sorted(seen.agents) == ["claude", "codex", "gemini"]
    assert seen.agents["codex"].model == "gpt-test"
    assert seen.agents["codex"].command == str(rig.bin_dir / "codex")
    assert seen.agents["claude"].env == {"AGENT_SETTING": "kept"}
    assert seen.agents["gemini"].token_file == str(rig.tmp / "gemini.token")
    assert seen.defaults.agent == "claude" and seen.defaults.restart_delay == 0.05
    assert seen.storage.bus_fsync is True and seen.api.port == 15555
    assert seen.api.api_key is None and seen.api.api_key_file is None
    assert seen.agents["claude"].token is None and seen.agents["codex"].token is None

    inode = copy.stat().st_ino
    again = _job(rig, "FAKE: dump-context")
    assert again.returncode == 0, again.stderr
    later = max(_runs(rig), key=lambda d: read_run_info(d).start_time)
    assert _context(later)["env"]["CONDUCTOR_CONFIG"] == str(copy)
    assert copy.stat().st_ino == inode  # reused, not written again


def test_child_runs_of_another_agent_use_its_token_file(rig: RunnerEnv) -> None:
    codex_file = _token_file(rig, "codex", CODEX_FILE_TOKEN)
    _write_config(rig, f"    token: {CLAUDE_INLINE}\n", f"    token_file: {codex_file}\n")
    prompt = (
        "FAKE: run run-agent job --agent codex --prompt 'FAKE: dump-context'\n"
        "FAKE: run run-agent job --agent claude --prompt 'FAKE: dump-context'\n"
    )
    done = _job(rig, prompt, OPENAI_API_KEY=SERVER_SECRET)
    assert done.returncode == 0, done.stderr
    runs = {d: read_run_info(d) for d in _runs(rig)}
    assert all(r.status == "completed" for r in runs.values()), [
        (r.agent, r.error_summary) for r in runs.values()
    ]
    (parent,) = [r for r in runs.values() if not r.parent_run_id]
    children = {r.agent: _context(d)["env"] for d, r in runs.items() if r.parent_run_id}
    assert sorted(children) == ["claude", "codex"]
    assert {r.parent_run_id for r in runs.values() if r.parent_run_id} == {parent.run_id}
    assert children["codex"]["OPENAI_API_KEY"] == CODEX_FILE_TOKEN
    assert "ANTHROPIC_API_KEY" not in children["codex"]  # the parent's token stays its own
    assert children["claude"]["ANTHROPIC_API_KEY"] == CLAUDE_INLINE  # same agent: its env


def test_a_child_run_of_an_agent_with_an_inline_token_fails_clearly(rig: RunnerEnv) -> None:
    codex_file = _token_file(rig, "codex", CODEX_FILE_TOKEN)
    _write_config(rig, f"    token: {CLAUDE_INLINE}\n", f"    token_file: {codex_file}\n")
    prompt = "FAKE: run run-agent job --agent claude --prompt 'FAKE: answer child'"
    done = rig.run("job", "--project", "p", "--task", "t", "--agent", "codex", "--prompt", prompt)
    assert done.returncode == 0, done.stderr
    (run_dir,) = _runs(rig)  # the child was refused before it made a run
    tool_output = (run_dir / "agent-stdout.txt").read_text()
    expected = "agent claude has an inline token that is not passed to agents; use token_file"
    assert expected in tool_output
    assert CLAUDE_INLINE not in tool_output


def test_validate_notes_that_inline_tokens_are_not_passed_to_agents(rig: RunnerEnv) -> None:
    codex_file = _token_file(rig, "codex", CODEX_FILE_TOKEN)
    _write_config(rig, f"    token: {CLAUDE_INLINE}\n", f"    token_file: {codex_file}\n")
    checked = rig.run("validate")
    assert checked.returncode == 0, checked.stderr
    lines = {line.split()[1]: line for line in checked.stdout.splitlines() if line[:3].strip()}
    assert "use token_file" in lines["claude"]
    assert "use token_file" not in lines["codex"]
    assert CLAUDE_INLINE not in checked.stdout + checked.stderr
