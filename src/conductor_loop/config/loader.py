"""Finding, reading and validating the configuration file."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from conductor_loop.config import cache
from conductor_loop.config.models import ApiConfig, Config
from conductor_loop.config.validation import validate
from conductor_loop.errors import ConfigError

USER_CONFIG = "~/.config/conductor/config.yaml"


def find_config_file(explicit: str | None = None) -> Path | None:
    """``--config`` → ``CONDUCTOR_CONFIG`` → ``./config.yaml`` → the user config."""
    for candidate, must_exist in (
        (explicit, True),
        (os.environ.get("CONDUCTOR_CONFIG"), True),
        ("config.yaml", False),
        (USER_CONFIG, False),
    ):
        if not candidate:
            continue
        path = Path(candidate).expanduser()
        if path.is_file():
            return path.absolute()
        if must_exist:
            raise ConfigError(f"config file {str(path)!r} does not exist")
    return None


def read_yaml(text: str, source: str = "<config>") -> dict[str, Any]:
    """The YAML mapping in ``text`` (empty sections as ``{}``)."""
    import yaml

    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    for section in ("agents", "defaults", "api", "storage"):
        if section in data and data[section] is None:
            data[section] = {}
    return data


def parse_config(text: str, source: str = "<config>", *, use_cache: bool = False) -> Config:
    """Validate YAML text into a Config; errors name the key path (``agents.x.type``).

    With ``use_cache``, a text that validated before is rebuilt from ``config.cache``.
    """
    config = cache.load(text, lambda: read_yaml(text, source)) if use_cache else None
    if config is None:
        config = validate(Config, read_yaml(text, source), source)
        if use_cache:
            cache.store(text, config)
    config.source = source
    return config


def apply_env_overrides(config: Config) -> Config:
    """``CONDUCTOR_HOST``, ``CONDUCTOR_PORT``, ``CONDUCTOR_API_KEY`` win over the file."""
    updates: dict[str, Any] = {}
    if host := os.environ.get("CONDUCTOR_HOST"):
        updates["host"] = host
    if port := os.environ.get("CONDUCTOR_PORT"):
        updates["port"] = port
    if api_key := os.environ.get("CONDUCTOR_API_KEY"):
        updates["api_key"] = api_key
    if not updates:
        return config
    merged = {f.name: getattr(config.api, f.name) for f in dataclasses.fields(ApiConfig)}
    api = validate(ApiConfig, merged | updates, "environment (CONDUCTOR_*)")
    return dataclasses.replace(config, api=api)


def load_config(explicit: str | None = None, *, use_cache: bool = True) -> Config:
    """Find, read and validate the configuration, then apply environment overrides."""
    path = find_config_file(explicit)
    if path is None:
        return apply_env_overrides(Config())
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror or exc}") from None
    return apply_env_overrides(parse_config(text, str(path), use_cache=use_cache))
