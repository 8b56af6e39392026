"""Finding, reading and validating the configuration file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from conductor_loop.config.models import Config
from conductor_loop.errors import ConfigError

try:
    _SafeLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _SafeLoader = yaml.SafeLoader

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


def _key_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for error in exc.errors():
        loc = tuple(
            p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))
        )
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"  {_key_path(loc)}: {message}")
    return "\n".join(lines)


def parse_config(text: str, source: str = "<config>") -> Config:
    """Validate YAML text into a Config; errors name the key path (``agents.x.type``)."""
    try:
        data = yaml.load(text, Loader=_SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    for section in ("agents", "defaults", "api", "storage"):
        if section in data and data[section] is None:
            data[section] = {}
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None
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
    merged = config.api.model_dump() | updates
    try:
        api = type(config.api).model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "environment (CONDUCTOR_*)")) from None
    return config.model_copy(update={"api": api})


def load_config(explicit: str | None = None) -> Config:
    """Find, read and validate the configuration, then apply environment overrides."""
    path = find_config_file(explicit)
    if path is None:
        return apply_env_overrides(Config())
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror or exc}") from None
    return apply_env_overrides(parse_config(text, str(path)))
