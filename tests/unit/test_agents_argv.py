"""Each CLI backend's argv and env are exactly the spec's, plus only what config adds."""

from __future__ import annotations

import itertools
import json
import os
import tomllib
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
    "codex": [
        "codex",
        "exec",
        "--dangerously-bypass-approvals-and-sandbox",
        "--skip-git-repo-check",
        "--json",
        "-",
    ],
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


CLAUDE_UNATTENDED = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
}
DEFAULT_ENV = {"gemini": {"GEMINI_CLI_TRUST_WORKSPACE": "true"}, "claude": CLAUDE_UNATTENDED}


@pytest.fixture
def not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)


@pytest.fixture
def as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)


@pytest.mark.usefixtures("not_root")
@pytest.mark.parametrize("agent_type", sorted(TOKEN_ENV))
def test_token_goes_in_the_types_env_var(agent_type: str) -> None:
    backend = backend_for("a", validate_agent({"type": agent_type}))
    assert backend.token_env_name == TOKEN_ENV[agent_type]
    expected = {**DEFAULT_ENV.get(agent_type, {}), TOKEN_ENV[agent_type]: TOKEN}
    assert backend.agent_env(TOKEN) == expected


def test_configured_env_overrides_backend_defaults() -> None:
    backend = _cli("gemini", env={"GEMINI_CLI_TRUST_WORKSPACE": "false"})
    assert backend.agent_env(None) == {"GEMINI_CLI_TRUST_WORKSPACE": "false"}


@pytest.mark.usefixtures("not_root")
def test_token_env_override_and_configured_env() -> None:
    backend = _cli("claude", token_env="MY_KEY", env={"IS_SANDBOX": "1", "A": "b"})
    expected = {**CLAUDE_UNATTENDED, "IS_SANDBOX": "1", "A": "b", "MY_KEY": TOKEN}
    assert backend.agent_env(TOKEN) == expected
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


# -- a config of type, token, base_url and model is enough for each CLI ------------------

URL = "http://127.0.0.1:8123"


@pytest.mark.usefixtures("not_root")
def test_claude_base_url_model_and_unattended_defaults() -> None:
    backend = _cli("claude", base_url=URL, model="claude-sonnet-4-5")
    assert backend.agent_env(TOKEN) == {
        **CLAUDE_UNATTENDED,
        "ANTHROPIC_BASE_URL": URL,
        "ANTHROPIC_API_KEY": TOKEN,
    }
    assert backend.argv() == [*SPEC_ARGV["claude"], "--model", "claude-sonnet-4-5"]
    assert "IS_SANDBOX" not in backend.agent_env(TOKEN)


@pytest.mark.usefixtures("not_root")
def test_claude_config_env_overrides_the_defaults_and_base_url() -> None:
    backend = _cli(
        "claude", base_url=URL, env={"DISABLE_TELEMETRY": "0", "ANTHROPIC_BASE_URL": "http://x"}
    )
    env = backend.agent_env(None)
    assert env["DISABLE_TELEMETRY"] == "0" and env["ANTHROPIC_BASE_URL"] == "http://x"
    assert "ANTHROPIC_API_KEY" not in env


@pytest.mark.usefixtures("as_root")
@pytest.mark.parametrize("configured", [{}, {"IS_SANDBOX": "yes"}, {"IS_SANDBOX": "true"}])
def test_claude_as_root_gets_is_sandbox_exactly_1(configured: dict[str, str]) -> None:
    assert _cli("claude", env=configured).agent_env(None)["IS_SANDBOX"] == "1"


def _provider(argv: list[str]) -> dict[str, object]:
    """The ``-c`` overrides in ``argv`` read as codex reads them (TOML values)."""
    values: dict[str, object] = {}
    for flag, setting in itertools.pairwise(argv):
        if flag == "-c":
            key, _, value = setting.partition("=")
            values[key] = tomllib.loads(f"v = {value}")["v"]
    return values


def test_codex_base_url_is_a_responses_provider_with_the_token_variable() -> None:
    backend = _cli("codex", base_url=URL + "/v1", model="gpt-5.5")
    argv = backend.argv()
    assert argv[:5] == SPEC_ARGV["codex"][:5] and argv[-1] == "-"
    assert argv.count("--skip-git-repo-check") == 1
    assert "--model" not in argv
    assert _provider(argv) == {
        "model": "gpt-5.5",
        "model_provider": "conductor",
        "model_providers.conductor": {
            "name": "conductor",
            "base_url": URL + "/v1",
            "env_key": "OPENAI_API_KEY",
            "wire_api": "responses",
        },
    }
    assert argv[argv.index('model_provider="conductor"') + 2] == (
        'model_providers.conductor={name="conductor",base_url="http://127.0.0.1:8123/v1",'
        'env_key="OPENAI_API_KEY",wire_api="responses"}'
    )
    assert backend.agent_env(TOKEN) == {"OPENAI_API_KEY": TOKEN}


@pytest.mark.parametrize(
    "url", ['http://h/v1?a="b"', "http://h/v1\\x", "http://h/\u00e9t\u00e9", "http://h/\t\x7f"]
)
def test_codex_base_url_is_quoted_as_toml(url: str) -> None:
    backend = _cli("codex", base_url=url, token_env="MY_KEY", model='m"1')
    values = _provider(backend.argv())
    assert values["model"] == 'm"1'
    provider = values["model_providers.conductor"]
    assert isinstance(provider, dict)
    assert provider["base_url"] == url and provider["env_key"] == "MY_KEY"


def test_codex_without_base_url_uses_its_own_provider() -> None:
    argv = _cli("codex", model="gpt-5.5").argv()
    assert argv == [*SPEC_ARGV["codex"][:-1], "--model", "gpt-5.5", "-"]
    assert "-c" not in argv


def test_codex_skip_git_check_already_in_args_is_not_repeated() -> None:
    argv = _cli("codex", args=["--skip-git-repo-check"]).argv()
    assert argv.count("--skip-git-repo-check") == 1


def test_gemini_base_url_and_model() -> None:
    backend = _cli("gemini", base_url=URL, model="gemini-2.5-flash")
    assert backend.agent_env(TOKEN) == {
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
        "GOOGLE_GEMINI_BASE_URL": URL,
        "GEMINI_API_KEY": TOKEN,
    }
    assert backend.argv() == [*SPEC_ARGV["gemini"], "-m", "gemini-2.5-flash"]


def test_gemini_with_a_key_gets_settings_selecting_api_key_auth() -> None:
    backend = _cli("gemini", base_url=URL)
    assert backend.home_var == "GEMINI_CLI_HOME"
    files = backend.home_files({"GEMINI_API_KEY": TOKEN})
    assert list(files) == [".gemini/settings.json"]
    assert json.loads(files[".gemini/settings.json"]) == {
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
    }
    assert TOKEN not in files[".gemini/settings.json"]
    other = _cli("gemini", token_env="MY_KEY")
    assert other.home_files({"MY_KEY": TOKEN}) and not other.home_files({"GEMINI_API_KEY": "k"})


def test_gemini_without_a_key_or_with_its_own_home_uses_the_users_home() -> None:
    assert _cli("gemini").home_files({"HOME": "/home/me"}) == {}
    own = _cli("gemini", env={"GEMINI_CLI_HOME": "/srv/gemini"})
    assert own.home_files({"GEMINI_API_KEY": TOKEN}) == {}


@pytest.mark.parametrize("agent_type", ["claude", "codex"])
def test_other_clis_need_no_private_home(agent_type: str) -> None:
    assert _cli(agent_type, base_url=URL).home_files({TOKEN_ENV[agent_type]: TOKEN}) == {}
