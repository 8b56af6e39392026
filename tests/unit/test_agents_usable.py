"""``usable()``: what ``run-agent validate`` says about each configured agent."""

from __future__ import annotations

from pathlib import Path

import pytest

from conductor_loop.agents.base import CliBackend
from conductor_loop.agents.registry import INLINE_TOKEN_NOTE, backend_for, probe_version, usable
from conductor_loop.config.models import AgentConfig, Secret
from conductor_loop.errors import AgentError
from conductor_loop.runner.process import pid_alive
from tests.fakes import install_fake_agents
from tests.support import wait_until

TOKEN = "sk-usable-secret-42"


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    return install_fake_agents(tmp_path / "bin")


@pytest.fixture(autouse=True)
def _no_tokens_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "GEMINI_API_KEY",
        "PERPLEXITY_API_KEY",
        "XAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    ("agent_type", "version"),
    [("claude", "2.1.197 (Claude Code)"), ("codex", "codex-cli 0.171.0"), ("gemini", "0.61.0")],
)
def test_cli_with_command_and_token_is_usable(
    fake_bin: Path, agent_type: str, version: str
) -> None:
    config = AgentConfig(type=agent_type, command=str(fake_bin / agent_type), token=Secret(TOKEN))
    ok, reason, found_version, *_ = usable(agent_type, config)
    assert ok, reason
    assert found_version == version
    assert str(fake_bin / agent_type) in reason
    assert "token from config" in reason
    assert TOKEN not in reason


def test_cli_found_on_path_by_its_default_name(
    fake_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{fake_bin}:/usr/bin:/bin")
    result = usable("gemini", AgentConfig(type="gemini", token=Secret(TOKEN)))
    assert result.ok, result.reason
    assert result.version == "0.61.0"


def test_missing_binary_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    ok, reason, version, *_ = usable("claude", AgentConfig(type="claude", token=Secret(TOKEN)))
    assert not ok
    assert reason == "agent claude: 'claude' not found on PATH"
    assert version is None


def test_missing_command_path_is_named(tmp_path: Path) -> None:
    config = AgentConfig(type="codex", command=str(tmp_path / "nope"), token=Secret(TOKEN))
    ok, reason, *_ = usable("codex", config)
    assert not ok
    assert "nope' not found" in reason


@pytest.mark.parametrize("agent_type", ["claude", "codex", "gemini"])
def test_cli_without_a_token_uses_the_clis_own_login(fake_bin: Path, agent_type: str) -> None:
    """Issue 11: `validate` said NO while `job` ran fine with the CLI's own login."""
    verdict = usable(agent_type, AgentConfig(type=agent_type, command=str(fake_bin / agent_type)))
    assert verdict.ok, verdict.reason
    assert verdict.auth == "cli-login" and verdict.endpoint == "the CLI's default"
    assert f"no token: uses {agent_type}'s own login" in verdict.reason
    assert "endpoint the CLI's default" in verdict.reason
    assert verdict.version


def test_cli_endpoint_and_model_are_reported(fake_bin: Path) -> None:
    config = AgentConfig(
        type="claude",
        command=str(fake_bin / "claude"),
        token=Secret(TOKEN),
        base_url="http://127.0.0.1:8123",
        model="claude-sonnet-4-5",
    )
    verdict = usable("claude", config)
    assert verdict.ok and verdict.endpoint == "http://127.0.0.1:8123" and verdict.auth == "token"
    assert "endpoint http://127.0.0.1:8123 (model claude-sonnet-4-5), token from config" in (
        verdict.reason
    )


@pytest.mark.parametrize(
    ("agent_type", "variable"), [("codex", "OPENAI_API_KEY"), ("gemini", "GEMINI_API_KEY")]
)
def test_a_base_url_that_needs_a_key_without_one_is_named(
    fake_bin: Path, agent_type: str, variable: str
) -> None:
    config = AgentConfig(
        type=agent_type, command=str(fake_bin / agent_type), base_url="http://127.0.0.1:9/v1"
    )
    ok, reason, *_ = usable(agent_type, config)
    assert not ok
    assert reason == (
        f"agent {agent_type}: base_url http://127.0.0.1:9/v1 needs a token ({agent_type} sends "
        f"it as ${variable}): set token or token_file in its config"
    )


def test_claude_may_take_its_own_login_to_a_base_url(fake_bin: Path) -> None:
    config = AgentConfig(type="claude", command=str(fake_bin / "claude"), base_url="http://x:1")
    verdict = usable("claude", config)
    assert verdict.ok and verdict.auth == "cli-login" and verdict.endpoint == "http://x:1"


@pytest.mark.parametrize(
    ("agent_type", "url", "problem"),
    [
        ("codex", "ftp://example.com", "is not an http(s) URL"),
        ("claude", "not a url", "is not an http(s) URL"),
        ("gemini", "http://example.com", "gemini accepts plain http only for localhost"),
    ],
)
def test_cli_with_bad_base_url_is_not_usable(
    fake_bin: Path, agent_type: str, url: str, problem: str
) -> None:
    config = AgentConfig(
        type=agent_type, command=str(fake_bin / agent_type), token=Secret(TOKEN), base_url=url
    )
    ok, reason, *_ = usable(agent_type, config)
    assert not ok
    assert reason.startswith(f"agent {agent_type}: base_url ") and problem in reason, reason


def test_gemini_takes_https_or_loopback_http(fake_bin: Path) -> None:
    for url in ("https://proxy.example.com", "http://localhost:8080", "http://[::1]:9"):
        config = AgentConfig(
            type="gemini", command=str(fake_bin / "gemini"), token=Secret(TOKEN), base_url=url
        )
        assert usable("gemini", config).ok, url


def test_token_from_the_environment_counts(fake_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_CODEX_KEY", TOKEN)
    config = AgentConfig(type="codex", command=str(fake_bin / "codex"), token_env="MY_CODEX_KEY")
    ok, reason, *_ = usable("codex", config)
    assert ok, reason
    assert "$MY_CODEX_KEY" in reason
    assert TOKEN not in reason


def test_token_file_is_read(fake_bin: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    config = AgentConfig(
        type="gemini", command=str(fake_bin / "gemini"), token_file=str(token_file)
    )
    assert usable("gemini", config).ok


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_token_file_is_reported(fake_bin: Path, tmp_path: Path, kind: str) -> None:
    token_file = tmp_path / "token"
    if kind == "directory":
        token_file.mkdir()
    config = AgentConfig(
        type="claude", command=str(fake_bin / "claude"), token_file=str(token_file)
    )
    ok, reason, *_ = usable("claude", config)
    assert not ok
    assert reason.startswith("agent claude: cannot read token_file")
    assert str(token_file) in reason


def test_failing_version_is_reported(tmp_path: Path) -> None:
    exe = _script(tmp_path / "claude", "echo 'broken install' >&2; exit 3")
    ok, reason, version, *_ = usable(
        "claude", AgentConfig(type="claude", command=str(exe), token=Secret(TOKEN))
    )
    assert not ok
    assert reason == f"agent claude: {exe} --version exited 3: broken install"
    assert version is None


def test_hanging_version_times_out(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The wrapper and a child it left in the background (holding the pipes) sleep 600 s.
    exe = _script(tmp_path / "codex", f"echo $$ > {pids}; sleep 600 & echo $! >> {pids}; sleep 600")
    backend = backend_for("codex", AgentConfig(type="codex", command=str(exe)))
    assert isinstance(backend, CliBackend)
    with pytest.raises(AgentError, match=r"did not answer within 2s"):
        probe_version(backend, timeout=2)
    wrapper, child = (int(pid) for pid in pids.read_text().split())
    # Both went down with the probe (killed as a group), not left to finish their sleep.
    wait_until(lambda: not (pid_alive(wrapper) or pid_alive(child)), 30, "both to be killed")


def test_version_sees_configured_env(tmp_path: Path) -> None:
    exe = _script(tmp_path / "gemini", 'echo "gemini $FLAVOUR"')
    config = AgentConfig(type="gemini", command=str(exe), env={"FLAVOUR": "custom"})
    backend = backend_for("g", config)
    assert isinstance(backend, CliBackend)
    assert probe_version(backend) == "gemini custom"


def test_rest_agent_needs_a_token() -> None:
    ok, reason, version, *_ = usable("pplx", AgentConfig(type="perplexity"))
    assert not ok
    assert "PERPLEXITY_API_KEY" in reason
    assert version is None


def test_rest_agent_with_token_and_default_url_is_usable() -> None:
    ok, reason, version, *_ = usable("pplx", AgentConfig(type="perplexity", token=Secret(TOKEN)))
    assert ok
    assert reason == (
        "https://api.perplexity.ai/chat/completions (model sonar-reasoning), "
        f"token from config ({INLINE_TOKEN_NOTE})"
    )
    assert version is None


def test_a_token_file_is_not_flagged(tmp_path: Path) -> None:
    token_file = tmp_path / "pplx.token"
    token_file.write_text(TOKEN)
    ok, reason, *_ = usable("pplx", AgentConfig(type="perplexity", token_file=str(token_file)))
    assert ok and reason.endswith("token from config"), reason


def test_an_inline_token_left_out_of_the_agents_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the config copy an agent sees, the inline token is gone: usable only with the
    token in the environment (a child run of the same agent has it there)."""
    config = AgentConfig(type="perplexity", withheld=["token"])
    ok, reason, *_ = usable("pplx", config)
    assert not ok
    assert reason == "agent pplx has an inline token that is not passed to agents; use token_file"
    monkeypatch.setenv("PERPLEXITY_API_KEY", TOKEN)
    assert usable("pplx", config).ok


def test_rest_agent_with_bad_base_url_is_not_usable() -> None:
    config = AgentConfig(type="xai", token=Secret(TOKEN), base_url="ftp://example.com")
    ok, reason, *_ = usable("xai", config)
    assert not ok
    assert "base_url" in reason
    assert "ftp://example.com" in reason
