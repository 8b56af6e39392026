"""What the runner hands each CLI from a minimal config (type, token, base_url, model)."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from conductor_loop.runner.agent_home import AGENT_HOMES_DIR, AgentHome, sweep_agent_homes
from conductor_loop.storage.runinfo import read_run_info
from tests.fakes import fake_agents_config_text
from tests.runner.conftest import TOKEN, RunnerEnv
from tests.support import wait_until

URL = "http://127.0.0.1:9"  # never called: the fakes only report what they were given


def _config(rig: RunnerEnv, token: str | None = TOKEN, **settings: str) -> None:
    """The fakes with ``token`` (None: none) and the same ``settings`` for every agent."""
    text = fake_agents_config_text(rig.bin_dir, token=token)
    extra = "".join(f"    {key}: {value}\n" for key, value in settings.items())
    for flavor in ("claude", "codex", "gemini"):
        line = f"    command: {rig.bin_dir / flavor}\n"
        text = text.replace(line, line + extra)
    rig.config_path.write_text(text, encoding="utf-8")


def _job(rig: RunnerEnv, agent: str, prompt: str, **env: str) -> Path:
    done = rig.run(
        "job", "--project", "p", "--task", agent, "--agent", agent, "--prompt", prompt, **env
    )
    assert done.returncode == 0, done.stderr
    (run_id,) = rig.root.run_ids("p", agent)
    return rig.root.run_dir("p", agent, run_id)


def _env_of(run_dir: Path) -> dict[str, str]:
    lines = (run_dir / "env.txt").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


DUMP_ENV = 'FAKE: run env > "$JRUN_RUN_FOLDER/env.txt"'


def test_claude_gets_its_base_url_and_model(rig: RunnerEnv) -> None:
    _config(rig, base_url=URL, model="claude-sonnet-4-5")
    run_dir = _job(rig, "claude", DUMP_ENV)
    env = _env_of(run_dir)
    assert env["ANTHROPIC_BASE_URL"] == URL and env["ANTHROPIC_API_KEY"] == TOKEN
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert (env.get("IS_SANDBOX") == "1") == (os.geteuid() == 0)
    assert read_run_info(run_dir).commandline.endswith("--model claude-sonnet-4-5")


def test_codex_gets_a_provider_for_its_base_url(rig: RunnerEnv) -> None:
    _config(rig, base_url=URL + "/v1", model="gpt-5.5")
    run_dir = _job(rig, "codex", DUMP_ENV)
    argv = shlex.split(read_run_info(run_dir).commandline)
    assert "-c" in argv and 'model_provider="conductor"' in argv
    assert f'base_url="{URL}/v1"' in argv[argv.index('model_provider="conductor"') + 2]
    assert _env_of(run_dir)["OPENAI_API_KEY"] == TOKEN
    assert "OK from fake codex" in (run_dir / "output.md").read_text()


def test_gemini_with_a_key_runs_in_a_private_settings_home(rig: RunnerEnv) -> None:
    _config(rig, base_url=URL)
    state_dir = rig.tmp / "state"
    prompt = "\n".join(
        [
            DUMP_ENV,
            'FAKE: run cp "$GEMINI_CLI_HOME/.gemini/settings.json" "$JRUN_RUN_FOLDER/"',
            'FAKE: run stat -c %a "$GEMINI_CLI_HOME" > "$JRUN_RUN_FOLDER/mode.txt"',
        ]
    )
    run_dir = _job(rig, "gemini", prompt, CONDUCTOR_STATE_DIR=str(state_dir))
    env = _env_of(run_dir)
    home = Path(env["GEMINI_CLI_HOME"])
    assert home == state_dir / AGENT_HOMES_DIR / run_dir.name
    assert env["HOME"] == os.environ["HOME"]  # the agent's tools keep the user's home
    assert env["GOOGLE_GEMINI_BASE_URL"] == URL and env["GEMINI_API_KEY"] == TOKEN
    settings = json.loads((run_dir / "settings.json").read_text())
    assert settings["security"] == {"auth": {"selectedType": "gemini-api-key"}}
    assert (run_dir / "mode.txt").read_text().strip() == "700"
    assert not home.exists()  # removed when the run ended
    assert list((state_dir / AGENT_HOMES_DIR).iterdir()) == []


def test_gemini_without_a_key_uses_the_users_own_login(rig: RunnerEnv) -> None:
    _config(rig, token=None)
    env = _env_of(_job(rig, "gemini", DUMP_ENV, GEMINI_API_KEY=""))
    assert "GEMINI_CLI_HOME" not in env and not env.get("GEMINI_API_KEY")
    assert env["HOME"] == os.environ["HOME"]


def test_homes_of_runners_that_died_are_swept(tmp_path: Path) -> None:
    parent = tmp_path / AGENT_HOMES_DIR
    parent.mkdir()
    live = AgentHome(parent, "live-run", {".gemini/settings.json": "{}"})
    dead = parent / "dead-run"
    (dead / ".gemini").mkdir(parents=True)
    (parent / "dead-run.lock").touch()
    leftover = parent / "lockless-run"
    leftover.mkdir()
    old = 1_000_000_000
    for path in (live.path, parent / "live-run.lock", dead, parent / "dead-run.lock", leftover):
        os.utime(path, (old, old))
    fresh = parent / "just-made"
    fresh.mkdir()
    assert sweep_agent_homes(parent) == ["dead-run", "lockless-run"]
    assert sorted(p.name for p in parent.iterdir()) == ["just-made", "live-run", "live-run.lock"]
    live.close()
    assert sorted(p.name for p in parent.iterdir()) == ["just-made"]


def test_validate_names_endpoints_and_the_clis_own_login(rig: RunnerEnv) -> None:
    _config(rig, token=None)
    text = rig.config_path.read_text(encoding="utf-8")
    claude_line = f"    command: {rig.bin_dir / 'claude'}\n"
    rig.config_path.write_text(text.replace(claude_line, claude_line + f"    base_url: {URL}\n"))
    done = rig.run("validate", ANTHROPIC_API_KEY="", OPENAI_API_KEY="", GEMINI_API_KEY="")
    assert done.returncode == 0, done.stderr
    lines = {line.split()[1]: line for line in done.stdout.splitlines()}
    assert lines["claude"].startswith("ok  claude (claude) [2.1.197 (Claude Code)]: ")
    assert f"endpoint {URL}, no token: uses claude's own login" in lines["claude"]
    assert "endpoint the CLI's default, no token: uses codex's own login" in lines["codex"]
    assert "NO" not in done.stdout
    as_json = rig.run("validate", "--json", GEMINI_API_KEY="")
    gemini = next(r for r in json.loads(as_json.stdout) if r["agent"] == "gemini")
    assert gemini["usable"] and gemini["auth"] == "cli-login"
    assert gemini["endpoint"] == "the CLI's default"


# -- exit codes tell the truth: the runner, not the agent, decides a run it ended ----------

EXITS_0_ON_SIGTERM = "FAKE: exit-on-sigterm 0\nFAKE: touch started\nFAKE: sleep 60"


def test_a_timed_out_run_exits_124_even_when_the_agent_exits_0(rig: RunnerEnv) -> None:
    done = rig.run(
        "job", "--project", "p", "--task", "t", "--agent", "gemini",
        "--prompt", EXITS_0_ON_SIGTERM, "--timeout", "1s",
    )  # fmt: skip
    assert done.returncode == 124, done.stderr
    (run_id,) = rig.root.run_ids("p", "t")
    info = read_run_info(rig.root.run_dir("p", "t", run_id))
    assert info.status == "failed" and info.exit_code == 124
    assert "timed out after 1s" in info.error_summary
    assert "(exit 124)" in done.stderr


def test_a_stopped_run_exits_143_even_when_the_agent_exits_0(rig: RunnerEnv) -> None:
    from conductor_loop.runner.stop_request import request_stop

    proc = rig.start(
        "job", "--project", "p", "--task", "t", "--agent", "gemini", "--prompt", EXITS_0_ON_SIGTERM
    )
    started = rig.root.task_dir("p", "t") / "started"
    wait_until(started.exists, 20, "the agent to start")
    (run_id,) = rig.root.run_ids("p", "t")
    run_dir = rig.root.run_dir("p", "t", run_id)
    request_stop(run_dir, reason="test")
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    info = read_run_info(run_dir)
    assert info.status == "stopped" and info.exit_code == 143
    assert "RUN_STOP" in rig.task_bus_types("p", "t")
