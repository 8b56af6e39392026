"""The validated-config cache: same result as validating, no secrets on disk, never
trusted for `config validate`, and harmless when damaged or unwritable."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conductor_loop.config import cache, load_config, parse_config
from conductor_loop.errors import ConfigError
from tests.support import run_cli

TOKEN = "sk-cache-TOKEN-1234-never-print"
API_KEY = "cache-API-KEY-5678-never-print"

FULL = f"""\
agents:
  deep:
    type: claude
    token: {TOKEN}
    args: [--verbose, "--x=1"]
    timeout: 1m30s
    env: {{FOO: bar, EMPTY: ""}}
    pricing: {{input_per_mtok: 3, output_per_mtok: 15, cached_input_per_mtok: 0.3}}
  fast:
    type: codex
    command: ~/bin/codex
    token_file: ~/codex-token
defaults:
  agent: deep
  timeout: 10m
  restart_delay: 250ms
  max_concurrent_runs: 3
api:
  port: 8080
  cors_origins: ["http://localhost:5173"]
  api_key: {API_KEY}
storage:
  bus_fsync: true
  bus_rotate_bytes: 1048576
"""


def _entries() -> list[Path]:
    directory = cache.cache_dir()
    assert directory is not None
    return sorted(directory.glob("config-*.json"))


def test_a_cached_config_equals_the_validated_one(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(FULL)
    first = load_config(str(path))
    assert len(_entries()) == 1
    second = load_config(str(path))
    assert second == first == parse_config(FULL)
    assert second.agents["deep"].resolve_token() == TOKEN
    assert second.api.resolve_api_key() == API_KEY
    assert second.defaults.restart_delay == 0.25 and second.agents["deep"].timeout == 90
    pricing = second.agents["deep"].pricing
    assert pricing is not None and pricing.cost_usd(1_000_000, 0) == 3
    assert second.source == str(path)


def test_the_cache_holds_no_secret_and_only_its_owner_can_read_it(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(FULL)
    load_config(str(path))
    [entry] = _entries()
    text = entry.read_text()
    assert TOKEN not in text and API_KEY not in text
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700


def test_an_edited_file_is_validated_again(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(FULL)
    load_config(str(path))
    path.write_text(FULL.replace("port: 8080", "port: 99999"))
    with pytest.raises(ConfigError, match=r"api\.port"):
        load_config(str(path))
    path.write_text(FULL.replace("port: 8080", "port: 8081"))
    assert load_config(str(path)).api.port == 8081


def test_environment_overrides_apply_to_a_cached_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(FULL)
    load_config(str(path))
    monkeypatch.setenv("CONDUCTOR_PORT", "9090")
    assert load_config(str(path)).api.port == 9090
    monkeypatch.setenv("CONDUCTOR_PORT", "-1")
    with pytest.raises(ConfigError, match=r"CONDUCTOR_\*.*\n.*port"):
        load_config(str(path))


@pytest.mark.parametrize(
    "damage",
    [
        "not json at all",
        "{}",
        '{"format": 1, "config": {"agents": {}}, "secrets": []}',
        '{"format": 1, "config": {"agents": {"a": {"nope": 1}}, "defaults": {}, "api": {},'
        ' "storage": {}}, "secrets": []}',
        '{"format": 1, "config": {"agents": {}, "defaults": {}, "api": {}, "storage": {}},'
        ' "secrets": [["api", "missing"]]}',
        '{"format": 999}',
    ],
)
def test_a_damaged_entry_means_validating_again(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(FULL)
    expected = load_config(str(path))
    [entry] = _entries()
    entry.write_text(damage)
    assert load_config(str(path)) == expected
    assert json.loads(entry.read_text())["format"] == cache.FORMAT  # rewritten


def test_an_unwritable_cache_does_not_matter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    path = tmp_path / "config.yaml"
    path.write_text(FULL)
    assert load_config(str(path)) == load_config(str(path)) == parse_config(FULL)


@pytest.mark.parametrize("xdg", ["relative/cache", ""])
def test_no_absolute_cache_place_means_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xdg: str
) -> None:
    """Without a HOME (as for some service users) nothing is written below the cwd."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    monkeypatch.setenv("HOME", "relative-home")
    path = tmp_path / "config.yaml"
    path.write_text(FULL)
    assert load_config(str(path)) == load_config(str(path)) == parse_config(FULL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_old_entries_are_pruned(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    for port in range(1000, 1000 + cache.KEEP_ENTRIES + 6):
        path.write_text(f"api:\n  port: {port}\n")
        assert load_config(str(path)).api.port == port
    assert len(_entries()) == cache.KEEP_ENTRIES


def test_config_validate_never_trusts_the_cache(run_agent_exe: Path, tmp_path: Path) -> None:
    """A forged entry saying a bad file is fine fools the fast path (the cache is the
    user's own), but never `config validate`."""
    bad = "defaults:\n  timeout: soon\n"
    path = tmp_path / "config.yaml"
    path.write_text(bad)
    cache.store(bad, parse_config(""))
    assert load_config(str(path)).defaults.timeout == 300
    checked = run_cli(run_agent_exe, "config", "validate", "--config", str(path))
    assert checked.returncode == 2, checked.stdout
    assert "defaults.timeout" in checked.stderr


_LOAD_TWICE = """
import sys
from conductor_loop.config import load_config
config = load_config(sys.argv[1])
print(sorted(m for m in ("pydantic", "yaml") if m in sys.modules))
print(config.agents["deep"].resolve_token() == sys.argv[2])
"""


@pytest.mark.parametrize("with_secrets", [True, False])
def test_a_cached_config_needs_neither_pydantic_nor_yaml(
    tmp_path: Path, with_secrets: bool
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    text = FULL if with_secrets else FULL.replace(f"token: {TOKEN}", f"token_file: {token_file}")
    text = text if with_secrets else text.replace(f"api_key: {API_KEY}", "host: 127.0.0.1")
    path = tmp_path / "config.yaml"
    path.write_text(text)

    def load() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", _LOAD_TWICE, str(path), TOKEN],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ | {"PYDANTIC_DISABLE_PLUGINS": "__all__"},
        )
        return done.stdout.splitlines()

    assert load() == ["['pydantic', 'yaml']", "True"]
    # Secrets are read back from the YAML text; nothing else needs the parser.
    assert load() == ["['yaml']" if with_secrets else "[]", "True"]


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_", min_size=1, max_size=8)
_strings = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_durations = st.one_of(
    st.integers(0, 10_000),
    st.floats(0, 1e6, allow_nan=False),
    st.sampled_from(["0s", "1ms", "90s", "1m30s", "2h", "500ms"]),
)
_agents = st.dictionaries(
    _names,
    st.fixed_dictionaries(
        {"type": st.sampled_from(["claude", "codex", "gemini", "perplexity", "xai"])},
        optional={
            "token": _strings,
            "command": _strings,
            "args": st.lists(_strings, max_size=3),
            "timeout": _durations,
            "env": st.dictionaries(_names, _strings, max_size=3),
            "model": _strings,
        },
    ),
    max_size=3,
)
_configs = st.fixed_dictionaries(
    {},
    optional={
        "agents": _agents,
        "defaults": st.fixed_dictionaries(
            {},
            optional={
                "timeout": _durations,
                "stop_grace_period": _durations,
                "max_restarts": st.integers(0, 1000),
                "agent": _names,
            },
        ),
        "api": st.fixed_dictionaries(
            {},
            optional={"port": st.integers(0, 65535), "api_key": _strings, "host": _strings},
        ),
        "storage": st.fixed_dictionaries({}, optional={"bus_fsync": st.booleans()}),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_configs)
def test_any_valid_config_comes_back_from_the_cache_unchanged(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    validated = parse_config(text, use_cache=True)  # validates and stores
    cached = cache.load(text, lambda: yaml.safe_load(text))
    assert cached is not None
    assert cached == validated
