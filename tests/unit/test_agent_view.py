"""The config copy agents see (``config.agent_view``) and the environment allow-list
(``runner.environment``): no secret in either, everything else kept."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from conductor_loop.agents.registry import backend_for
from conductor_loop.config.agent_view import agent_view, agent_view_text, looks_secret
from conductor_loop.config.loader import parse_config
from conductor_loop.runner.environment import allowed_env, write_agent_config

INLINE = "inline-SECRET-77"
KEY = "api-SECRET-88"
ENV_SECRET = "env-SECRET-99"
CONFIG = f"""
agents:
  claude:
    type: claude
    token: {INLINE}
    args: [--x]
    env: {{ANTHROPIC_AUTH_TOKEN: {ENV_SECRET}, MAX_TOKENS: "5", GIT_AUTHOR_NAME: me}}
  mine:
    type: codex
    token_env: MY_CODEX_CRED
    token_file: ~/codex.token
    env: {{MY_CODEX_CRED: {ENV_SECRET}}}
    timeout: 1m
    pricing: {{input_per_mtok: 1.25, output_per_mtok: 10}}
defaults: {{agent: claude, restart_delay: 50ms}}
api: {{api_key: {KEY}, api_key_file: /keys/api, cors_origins: ["http://a"], port: 1234}}
storage:
  bus_rotate_bytes: 4096
"""


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("OPENAI_API_KEY", True),
        ("ANTHROPIC_AUTH_TOKEN", True),
        ("GITHUB_PAT", True),
        ("db_password", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("CLAUDE_CODE_MAX_OUTPUT_TOKENS", False),
        ("GIT_AUTHOR_NAME", False),
        ("KEYBOARD_LAYOUT", False),
    ],
)
def test_secret_looking_names(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def test_the_copy_leaves_out_secrets_and_keeps_the_rest() -> None:
    text = agent_view_text(parse_config(CONFIG))
    assert INLINE not in text and KEY not in text and ENV_SECRET not in text
    assert "/keys/api" not in text
    view = parse_config(text)
    claude, mine = view.agents["claude"], view.agents["mine"]
    assert claude.token is None and claude.withheld == ["env.ANTHROPIC_AUTH_TOKEN", "token"]
    assert claude.env == {"MAX_TOKENS": "5", "GIT_AUTHOR_NAME": "me"} and claude.args == ["--x"]
    assert mine.withheld == ["env.MY_CODEX_CRED"] and mine.token_env == "MY_CODEX_CRED"
    assert mine.token_file == os.path.expanduser("~/codex.token") and mine.timeout == 60
    assert mine.pricing == parse_config(CONFIG).agents["mine"].pricing is not None
    assert view.defaults.agent == "claude" and view.defaults.restart_delay == 0.05
    assert view.api.port == 1234 and view.api.cors_origins == ["http://a"]
    assert view.api.api_key is None and view.api.api_key_file is None
    assert view.storage.bus_rotate_bytes == 4096
    assert agent_view_text(view) == text  # the copy of the copy is the copy


def test_a_child_run_takes_withheld_secrets_from_its_environment_only() -> None:
    view = parse_config(agent_view_text(parse_config(CONFIG)))
    claude = backend_for("claude", view.agents["claude"])
    assert claude.withheld_problem(None, {}) is not None
    problem = claude.withheld_problem(None, {"ANTHROPIC_API_KEY": "t"})
    assert problem is not None and "env.ANTHROPIC_AUTH_TOKEN" in problem
    both = {"ANTHROPIC_API_KEY": "t", "ANTHROPIC_AUTH_TOKEN": "a"}  # a run of claude has them
    assert claude.withheld_problem(None, both) is None
    assert "ANTHROPIC_AUTH_TOKEN" in claude.inherited_env()


def test_allowed_env_keeps_basics_and_the_named_variables_only() -> None:
    base = {
        "PATH": "/bin",
        "HOME": "/h",
        "LC_ALL": "C",
        "HTTPS_PROXY": "http://p:3128",
        "OPENAI_API_KEY": "server",
        "AWS_SECRET_ACCESS_KEY": "server",
        "CONDUCTOR_API_KEY": "server",
        "CODEX_HOME": "/h/.codex",
    }
    codex = backend_for("codex", parse_config("agents: {c: {type: codex}}").agents["c"])
    assert allowed_env(base, codex.inherited_env()) == {
        "PATH": "/bin",
        "HOME": "/h",
        "LC_ALL": "C",
        "HTTPS_PROXY": "http://p:3128",
        "OPENAI_API_KEY": "server",  # codex's own token variable
        "CODEX_HOME": "/h/.codex",
    }
    claude = backend_for("claude", parse_config("agents: {c: {type: claude}}").agents["c"])
    assert set(allowed_env(base, claude.inherited_env())) == {
        "PATH",
        "HOME",
        "LC_ALL",
        "HTTPS_PROXY",
    }


def test_the_copy_is_written_private_and_reused(tmp_path: Path) -> None:
    config = parse_config(CONFIG + f"  state_dir: {tmp_path / 'state'}\n")
    first = write_agent_config(config)
    assert first.state_dir == tmp_path / "state"
    assert first.path.parent == tmp_path / "state" / "agent-configs"
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(first.path.parent.stat().st_mode) == 0o700
    inode = first.path.stat().st_ino
    assert write_agent_config(config).path == first.path
    assert first.path.stat().st_ino == inode
    first.path.write_text("tampered\n")
    assert write_agent_config(config).path.read_text() == agent_view_text(config)


AWKWARD = """
agents:
  a:
    type: claude
    args: ["--x", "-", "yes", "1e3", "a: b", "# no", "", "x\\ny", "ünï 🚀", "null", "~"]
    env: {GIT_AUTHOR_NAME: "o'neil", EMPTY: "", NUM: "007", COLON: "a:b"}
    pricing: {input_per_mtok: 3, output_per_mtok: 0.5}
defaults: {agent: a, max_restarts: 0}
"""


@pytest.mark.parametrize("text", [CONFIG, AWKWARD], ids=["secrets", "awkward-values"])
def test_the_copy_is_written_without_pyyaml_and_reads_back_as_the_view(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run-agent job` writes the copy before its agent starts: no PyYAML import for it."""
    import yaml

    config = parse_config(text)
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "yaml", None)  # any import of it fails
        copy = agent_view_text(config)
    assert yaml.safe_load(copy) == agent_view(config)
    assert agent_view(parse_config(copy))["agents"] == agent_view(config)["agents"]


def test_a_value_the_writer_does_not_cover_goes_through_pyyaml() -> None:
    """A float that needs an exponent (1e-06 would read back as a string if written as
    Python prints it): PyYAML writes the copy, and it still reads back as the view."""
    import yaml

    config = parse_config(AWKWARD.replace("0.5}", "0.000001}"))
    copy = agent_view_text(config)
    assert yaml.safe_load(copy) == agent_view(config)
    assert parse_config(copy).agents["a"].pricing == config.agents["a"].pricing
