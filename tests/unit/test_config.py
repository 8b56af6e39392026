"""Configuration: where it is found, how it validates, and that secrets never show."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from conductor_loop.config import load_config, parse_config
from conductor_loop.config.loader import find_config_file
from conductor_loop.config.template import DEFAULT_CONFIG_TEMPLATE
from conductor_loop.errors import ConfigError

TOKEN = "sk-TOKEN-4242-never-print-me"
API_KEY = "api-KEY-7777-never-print-me"


def _write(path: Path, port: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"api:\n  port: {port}\n")
    return path


@pytest.fixture
def four_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """One config file in each place the loader looks, told apart by api.port."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return {
        "flag": _write(tmp_path / "flag.yaml", 1001),
        "env": _write(tmp_path / "env.yaml", 1002),
        "cwd": _write(cwd / "config.yaml", 1003),
        "user": _write(Path.home() / ".config" / "conductor" / "config.yaml", 1004),
    }


def test_loading_order(four_configs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUCTOR_CONFIG", str(four_configs["env"]))
    assert load_config(str(four_configs["flag"])).api.port == 1001
    assert load_config().api.port == 1002
    monkeypatch.delenv("CONDUCTOR_CONFIG")
    assert load_config().api.port == 1003
    assert load_config().source == str(four_configs["cwd"].absolute())
    four_configs["cwd"].unlink()
    assert load_config().api.port == 1004
    four_configs["user"].unlink()
    assert find_config_file() is None
    config = load_config()
    assert config.api.port == 14355 and config.source is None


@pytest.mark.parametrize("how", ["flag", "env"])
def test_an_explicit_config_that_does_not_exist_is_an_error(
    four_configs: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, how: str
) -> None:
    missing = str(tmp_path / "missing.yaml")
    if how == "env":
        monkeypatch.setenv("CONDUCTOR_CONFIG", missing)
    with pytest.raises(ConfigError, match=r"missing\.yaml.*does not exist"):
        load_config(missing if how == "flag" else None)


def test_token_file_with_tilde_and_whitespace(tmp_path: Path) -> None:
    token_path = Path.home() / "secrets" / "claude.token"
    token_path.parent.mkdir()
    token_path.write_text(f"\n  {TOKEN}  \n\n")
    config = parse_config(
        "agents:\n  c:\n    type: claude\n    token_file: ~/secrets/claude.token\n"
    )
    assert config.agents["c"].resolve_token() == TOKEN


def test_unreadable_token_file_names_the_file(tmp_path: Path) -> None:
    config = parse_config(f"agents:\n  c:\n    type: codex\n    token_file: {tmp_path}/nope\n")
    with pytest.raises(ConfigError, match="nope"):
        config.agents["c"].resolve_token()


def test_inline_token_and_blank_token() -> None:
    config = parse_config(f"agents:\n  a: {{type: xai, token: ' {TOKEN} '}}\n  b: {{type: xai}}\n")
    assert config.agents["a"].resolve_token() == TOKEN
    assert config.agents["b"].resolve_token() is None


def test_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("api:\n  host: 127.0.0.1\n  port: 1000\n  api_key: from-file\n")
    monkeypatch.setenv("CONDUCTOR_HOST", "0.0.0.0")
    monkeypatch.setenv("CONDUCTOR_PORT", "2000")
    monkeypatch.setenv("CONDUCTOR_API_KEY", API_KEY)
    api = load_config(str(path)).api
    assert (api.host, api.port, api.resolve_api_key()) == ("0.0.0.0", 2000, API_KEY)
    # Without a file too.
    assert load_config().api.port == 2000


def test_executor_is_local_by_default_and_takes_a_bare_type_or_a_mapping() -> None:
    assert parse_config("").executor.type == "local"
    assert parse_config("executor:\n").executor.type == "local"
    assert parse_config("executor: ray\n").executor.type == "ray"
    executor = parse_config(
        "executor:\n  type: ray\n  address: ray://head:10001\n  max_retries: 5\n"
        "  resources: {agent_slots: 2}\n  namespace: ns\n"
    ).executor
    assert (executor.type, executor.address, executor.max_retries) == ("ray", "ray://head:10001", 5)
    assert (executor.resources, executor.namespace) == ({"agent_slots": 2}, "ns")
    assert parse_config("executor: ray\n").executor.resources == {"agent_slots": 1}


def test_executor_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("executor:\n  type: local\n  max_retries: 7\n")
    monkeypatch.setenv("CONDUCTOR_EXECUTOR", "ray")
    monkeypatch.setenv("CONDUCTOR_RAY_ADDRESS", "ray://ray-head:10001")
    executor = load_config(str(path)).executor
    assert (executor.type, executor.address, executor.max_retries) == (
        "ray",
        "ray://ray-head:10001",
        7,
    )
    monkeypatch.setenv("CONDUCTOR_EXECUTOR", "slurm")
    with pytest.raises(ConfigError, match=r"CONDUCTOR_EXECUTOR.*\n.*type"):
        load_config(str(path))


def test_bad_port_from_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUCTOR_PORT", "not-a-port")
    with pytest.raises(ConfigError, match=r"CONDUCTOR_\*.*\n.*port"):
        load_config()


@pytest.mark.parametrize(
    ("text", "key_path"),
    [
        ("agents:\n  x:\n    type: gpt\n", "agents.x.type"),
        ("agents:\n  x:\n    token: abc\n", "agents.x.type"),
        ("agents:\n  x:\n    type: claude\n    tiemout: 3\n", "agents.x.tiemout"),
        ("agents:\n  x:\n    type: claude\n    timeout: soon\n", "agents.x.timeout"),
        ("defaults:\n  timeout: -5\n", "defaults.timeout"),
        ("defaults:\n  max_restarts: many\n", "defaults.max_restarts"),
        ("api:\n  port: 99999\n", "api.port"),
        ("api:\n  cors_origins: http://x\n", "api.cors_origins"),
        ("storage:\n  runs_dir: [a]\n", "storage.runs_dir"),
        ("executor: kubernetes\n", "executor.type"),
        ("executor:\n  type: ray\n  address: head\n", "executor.address"),
        ("executor:\n  type: ray\n  max_retries: -1\n", "executor.max_retries"),
        (
            "executor:\n  type: ray\n  resources: {agent_slots: x}\n",
            "executor.resources.agent_slots",
        ),
        ("executor:\n  type: ray\n  adress: auto\n", "executor.adress"),
    ],
)
def test_validation_errors_name_the_key_path(text: str, key_path: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "my.yaml")
    message = str(info.value)
    assert f"  {key_path}: " in message
    assert "my.yaml" in message


def test_unknown_agent_key_is_called_unknown() -> None:
    with pytest.raises(ConfigError, match=r"agents\.x\.tiemout: unknown key"):
        parse_config("agents:\n  x:\n    type: claude\n    tiemout: 3\n")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "a: [\n"])
def test_non_mapping_or_broken_yaml_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_config(text)


def test_durations_in_config() -> None:
    config = parse_config("defaults:\n  timeout: 5m\n  restart_delay: 500ms\n")
    assert config.defaults.timeout == 300
    assert config.defaults.restart_delay == 0.5


def test_empty_sections_and_unknown_top_level_sections_are_tolerated() -> None:
    config = parse_config("agents:\ndefaults:\nfuture_section:\n  x: 1\n")
    assert config.agents == {} and config.defaults.max_restarts == 100


_SECRET_CONFIG = f"""\
agents:
  c:
    type: claude
    token: {TOKEN}
api:
  api_key: {API_KEY}
"""


def test_repr_str_and_json_of_a_config_never_contain_secrets() -> None:
    config = parse_config(_SECRET_CONFIG)
    assert config.agents["c"].resolve_token() == TOKEN  # really loaded
    for text in (
        repr(config),
        str(config),
        str(dataclasses.asdict(config)),
        repr(config.agents["c"]),
        str(config.agents["c"].token),
        repr(config.api),
    ):
        assert TOKEN not in text
        assert API_KEY not in text


@pytest.mark.parametrize(
    "broken",
    [
        _SECRET_CONFIG + "defaults:\n  timeout: soon\n",
        _SECRET_CONFIG.replace("type: claude", "type: nope"),
        _SECRET_CONFIG.replace(f"token: {TOKEN}", f'token: "{TOKEN}'),  # unclosed quote
        _SECRET_CONFIG.replace(f"token: {TOKEN}", f"token: [{TOKEN}]"),
    ],
)
def test_error_messages_never_contain_secrets(broken: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(broken)
    assert TOKEN not in str(info.value)
    assert API_KEY not in str(info.value)


def test_agent_lookup() -> None:
    config = parse_config("agents:\n  fast: {type: codex}\n  deep: {type: claude}\n")
    assert config.agent("fast")[0] == "fast"
    assert config.agent("claude")[0] == "deep"  # a backend type finds its agent
    assert config.agent("gemini")[1].type == "gemini"  # a bare type works unconfigured
    with pytest.raises(ConfigError, match=r"defaults\.agent"):
        config.agent(None)
    with pytest.raises(ConfigError, match="unknown agent 'nope'"):
        config.agent("nope")


def test_the_init_template_is_a_valid_config() -> None:
    config = parse_config(DEFAULT_CONFIG_TEMPLATE, "template")
    assert set(config.agents) >= {"claude", "codex"}
    assert config.defaults.agent in config.agents
