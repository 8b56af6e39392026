"""Validated configurations remembered between commands.

``run-agent job`` is started once per run, often by scripts and by the task loop; checking
the config with pydantic would cost most of its start-up. A config file whose exact
text (under this exact schema) validated before is therefore rebuilt from the cached
result instead, with no YAML parser and no pydantic.

The cache lives in ``$XDG_CACHE_HOME/conductor-loop`` (``~/.cache/conductor-loop``;
platformdirs' cache dir outside Linux: ``config.dirs``), files readable by their owner
only. Secret values are never written there: a cached config that has any reads them
back from the YAML text. Any trouble with the cache (unwritable, damaged, out of date)
just means validating again.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any

from conductor_loop import __version__
from conductor_loop.config import dirs, models
from conductor_loop.config.models import (
    AgentConfig,
    ApiConfig,
    Config,
    DefaultsConfig,
    ExecutorConfig,
    Pricing,
    Secret,
    StorageConfig,
)
from conductor_loop.storage.atomic import atomic_write_text

FORMAT = 2  # 2: texts with unknown top-level keys are no longer cached
KEEP_ENTRIES = 64
_SECTIONS = {
    "defaults": DefaultsConfig,
    "api": ApiConfig,
    "storage": StorageConfig,
    "executor": ExecutorConfig,
}


def cache_dir() -> Path | None:
    """Where entries live; None without an absolute place for them (no usable HOME).
    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG spec says."""
    return dirs.user_cache_dir()


@functools.cache
def _schema_fingerprint() -> bytes:
    """What validation depends on besides the text: our version and the model sources."""
    digest = hashlib.sha256(__version__.encode())
    from conductor_loop import durations

    for module in (models, durations):
        with contextlib.suppress(OSError, TypeError):
            digest.update(Path(str(module.__file__)).read_bytes())
    return digest.digest()


def _entry_path(text: str) -> Path | None:
    directory = cache_dir()
    if directory is None:
        return None
    digest = hashlib.sha256(_schema_fingerprint())
    digest.update(text.encode("utf-8", "surrogatepass"))
    return directory / f"config-{digest.hexdigest()[:40]}.json"


def _plain(section: Any, where: tuple[str, ...], secrets: list[list[str]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields(section):
        value = getattr(section, f.name)
        if isinstance(value, Secret):
            secrets.append([*where, f.name])
            value = None
        elif is_dataclass(value) and not isinstance(value, type):
            value = asdict(value)  # a nested section (an agent's pricing)
        values[f.name] = value
    return values


def _agent(plain: dict[str, Any]) -> AgentConfig:
    pricing = plain.pop("pricing", None)
    return AgentConfig(**plain, pricing=Pricing(**pricing) if pricing is not None else None)


def store(text: str, config: Config) -> None:
    """Remember that ``text`` validated into ``config`` (secrets left out)."""
    secrets: list[list[str]] = []
    plain = {
        "agents": {
            name: _plain(agent, ("agents", name), secrets) for name, agent in config.agents.items()
        },
        **{name: _plain(getattr(config, name), (name,), secrets) for name in _SECTIONS},
    }
    entry = {"format": FORMAT, "config": plain, "secrets": secrets}
    path = _entry_path(text)
    if path is None:
        return
    with contextlib.suppress(OSError, ValueError):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(entry), fsync=False, mode=0o600)
        _prune(path.parent)


def _prune(directory: Path) -> None:
    """Keep the newest ``KEEP_ENTRIES`` entries: every distinct config text makes one."""
    entries = []
    with os.scandir(directory) as it:
        for e in it:
            if e.name.startswith("config-") and e.name.endswith(".json"):
                with contextlib.suppress(OSError):
                    entries.append((e.stat().st_mtime_ns, e.path))
    entries.sort(reverse=True)
    for _, stale in entries[KEEP_ENTRIES:]:
        with contextlib.suppress(OSError):
            os.unlink(stale)


def load(text: str, raw_data: Callable[[], Any]) -> Config | None:
    """The config ``text`` validated into before, or None. ``raw_data`` gives the parsed
    YAML, asked for only when secret values must be read back from it."""
    path = _entry_path(text)
    if path is None:
        return None
    try:
        entry = json.loads(path.read_bytes())
        if entry.get("format") != FORMAT:
            return None
        plain = entry["config"]
        config = Config(
            agents={name: _agent(agent) for name, agent in plain["agents"].items()},
            **{name: cls(**plain[name]) for name, cls in _SECTIONS.items()},
        )
        if entry["secrets"]:
            _restore_secrets(config, raw_data(), entry["secrets"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return config


def _restore_secrets(config: Config, data: Any, paths: list[list[str]]) -> None:
    for path in paths:
        *where, name = path
        value = data
        for key in path:
            value = value[key]
        if not isinstance(value, str):
            raise ValueError(f"secret {'.'.join(path)} is no longer a string")
        target: Any = config
        for key in where:
            target = target[key] if isinstance(target, dict) else getattr(target, key)
        setattr(target, name, Secret(value))
