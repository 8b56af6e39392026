"""Each CLI backend's argv and env are exactly the spec's, plus only what config adds."""

from __future__ import annotations

from typing import get_args

import pytest

from conductor_loop.agents.base import Backend, CliBackend, RestBackend
from conductor_loop.agents.claude import ClaudeBackend
from conductor_loop.agents.codex import CodexBackend
from conductor_loop.agents.gemini import GeminiBackend
from conductor_loop.agents.perplexity import PerplexityBackend
from conductor_loop.agents.registry import backend_for, backend_types
from conductor_loop.agents.xai import XaiBackend
from conductor_loop.config.models import AgentConfig, AgentType
from conductor_loop.errors import AgentError
from tests.support import validate_agent

TOKEN = "sk-test-secret-0123456789"

SPEC_ARGV = {
    "claude": [
        "claude",
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
    ],
    "codex": ["codex", "exec", "--dangerously-bypass-approvals-and-sandbox", "--json", "-"],
    "gemini": [
        "gemini",
        "--screen-reader",
        "true",
        "--approval-mode",
        "yolo",
        "--output-format",
        "stream-json",
    ],
}
TOKEN_ENV = {
    "claude": "ANTHROPIC_API_KEY",
    "codex": "OPENAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "perplexity": "PERPLEXITY_API_KEY",
    "xai": "XAI_API_KEY",
}


def _cli(agent_type: str, **settings: object) -> CliBackend:
    backend = backend_for("agent-" + agent_type, validate_agent({"type": agent_type, **settings}))
    assert isinstance(backend, CliBackend)
    return backend


@pytest.mark.parametrize(
    ("agent_type", "backend_class", "kind"),
    [
        ("claude", ClaudeBackend, CliBackend),
        ("codex", CodexBackend, CliBackend),
        ("gemini", GeminiBackend, CliBackend),
        ("perplexity", PerplexityBackend, RestBackend),
        ("xai", XaiBackend, RestBackend),
    ],
)
def test_registry_maps_type_to_backend(
    agent_type: str, backend_class: type[Backend], kind: type[Backend]
) -> None:
    backend = backend_for("mine", validate_agent({"type": agent_type}))
    assert type(backend) is backend_class
    assert isinstance(backend, kind)
    assert backend.name == "mine"
    assert backend.kind == ("cli" if kind is CliBackend else "rest")


def test_registry_covers_every_configurable_type() -> None:
    assert backend_types() == sorted(get_args(AgentType))


def test_unknown_type_is_a_clear_error() -> None:
    config = AgentConfig(type="llama")  # type: ignore[arg-type]
    with pytest.raises(AgentError, match=r"agent local: unknown type 'llama' \(known: claude"):
        backend_for("local", config)


@pytest.mark.parametrize("agent_type", sorted(SPEC_ARGV))
def test_default_argv_is_the_spec_invocation(agent_type: str) -> None:
    assert _cli(agent_type).argv() == SPEC_ARGV[agent_type]


@pytest.mark.parametrize(
    ("agent_type", "expected"),
    [
        ("claude", [*SPEC_ARGV["claude"], "--model", "opus", "--max-turns", "3"]),
        ("codex", [*SPEC_ARGV["codex"][:-1], "--model", "opus", "--max-turns", "3", "-"]),
        ("gemini", [*SPEC_ARGV["gemini"], "-m", "opus", "--max-turns", "3"]),
    ],
)
def test_model_and_args_follow_the_spec_argv(agent_type: str, expected: list[str]) -> None:
    backend = _cli(agent_type, model="opus", args=["--max-turns", "3"])
    assert backend.argv() == expected


@pytest.mark.parametrize("agent_type", sorted(SPEC_ARGV))
def test_command_replaces_only_the_executable(agent_type: str) -> None:
    backend = _cli(agent_type, command="/opt/fakes/agent")
    assert backend.argv() == ["/opt/fakes/agent", *SPEC_ARGV[agent_type][1:]]
    assert backend.version_argv() == ["/opt/fakes/agent", "--version"]


def test_command_expands_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    assert _cli("claude", command="~/bin/claude").argv()[0] == "/home/someone/bin/claude"


DEFAULT_ENV = {"gemini": {"GEMINI_CLI_TRUST_WORKSPACE": "true"}}


@pytest.mark.parametrize("agent_type", sorted(TOKEN_ENV))
def test_token_goes_in_the_types_env_var(agent_type: str) -> None:
    backend = backend_for("a", validate_agent({"type": agent_type}))
    assert backend.token_env_name == TOKEN_ENV[agent_type]
    expected = {**DEFAULT_ENV.get(agent_type, {}), TOKEN_ENV[agent_type]: TOKEN}
    assert backend.agent_env(TOKEN) == expected


def test_configured_env_overrides_backend_defaults() -> None:
    backend = _cli("gemini", env={"GEMINI_CLI_TRUST_WORKSPACE": "false"})
    assert backend.agent_env(None) == {"GEMINI_CLI_TRUST_WORKSPACE": "false"}


def test_token_env_override_and_configured_env() -> None:
    backend = _cli("claude", token_env="MY_KEY", env={"IS_SANDBOX": "1", "A": "b"})
    assert backend.agent_env(TOKEN) == {"IS_SANDBOX": "1", "A": "b", "MY_KEY": TOKEN}
    assert "ANTHROPIC_API_KEY" not in backend.agent_env(TOKEN)


def test_no_token_means_no_token_variable() -> None:
    assert _cli("codex", env={"X": "1"}).agent_env(None) == {"X": "1"}


@pytest.mark.parametrize("agent_type", sorted(SPEC_ARGV))
def test_argv_never_contains_the_token(agent_type: str) -> None:
    backend = _cli(
        agent_type,
        token=TOKEN,
        model="m",
        args=["--flag"],
        command="/bin/agent",
        env={"X": "1"},
    )
    assert not any(TOKEN in part for part in backend.argv())
    assert not any(TOKEN in part for part in backend.version_argv())
    assert TOKEN not in repr(backend.config)


def test_rest_defaults_and_overrides() -> None:
    perplexity = backend_for("p", AgentConfig(type="perplexity"))
    assert isinstance(perplexity, PerplexityBackend)
    assert perplexity.endpoint == "https://api.perplexity.ai/chat/completions"
    assert perplexity.model == "sonar-reasoning"
    xai = backend_for(
        "x", AgentConfig(type="xai", base_url="http://127.0.0.1:9/v1/", model="grok-3")
    )
    assert isinstance(xai, XaiBackend)
    assert xai.endpoint == "http://127.0.0.1:9/v1/chat/completions"
    assert xai.model == "grok-3"
    assert xai.request_body("hi") == {
        "model": "grok-3",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }
    assert (
        backend_for("x", AgentConfig(type="xai")).endpoint == "https://api.x.ai/v1/chat/completions"
    )


def test_perplexity_output_drops_the_think_block_and_lists_sources() -> None:
    backend = backend_for("p", AgentConfig(type="perplexity"))
    assert isinstance(backend, PerplexityBackend)
    answer = "<think>\nweighing sources\n</think>\n\nParis is the capital [1]."
    assert backend.final_answer(answer, {}) == "Paris is the capital [1]."
    assert backend.final_answer(answer, {"citations": ["https://a.example/"]}) == (
        "Paris is the capital [1].\n\nSources:\n[1] https://a.example/\n"
    )
