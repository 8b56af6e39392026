"""Finding, reading and validating the configuration file."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conductor_loop.config import cache, dirs
from conductor_loop.config.models import ApiConfig, Config, ExecutorConfig
from conductor_loop.config.validation import validate
from conductor_loop.errors import ConfigError

SECTIONS = ("agents", "defaults", "api", "storage", "executor")
# A line that starts one of our sections: a config.yaml that has none is not ours.
_OUR_SECTION = re.compile(
    r"^[\"']?(?:agents|defaults|api|storage|executor)[\"']?[ \t]*:", re.MULTILINE
)

Warn = Callable[[str], None]


def warn_on_stderr(message: str) -> None:
    """The default for configuration warnings: a ``warning:`` line on stderr."""
    with contextlib.suppress(OSError, ValueError):
        print(f"warning: {message}", file=sys.stderr, flush=True)


def user_config_path() -> Path | None:
    """Where ``config init`` writes and the search ends: ``$XDG_CONFIG_HOME/conductor``
    (``~/.config/conductor``) on Linux, platformdirs' config dir elsewhere."""
    candidates = dirs.user_config_files()
    return candidates[0] if candidates else None


def find_config_file(explicit: str | None = None, *, warn: Warn = warn_on_stderr) -> Path | None:
    """``--config`` → ``CONDUCTOR_CONFIG`` → ``./config.yaml`` (when it is ours) → the
    user config. A ``./config.yaml`` with none of our sections belongs to something else
    (another tool's config in a project directory): it is skipped with a warning."""
    candidates: list[tuple[str | None, bool]] = [
        (explicit, True),
        (os.environ.get("CONDUCTOR_CONFIG"), True),
        ("config.yaml", False),
    ]
    candidates += [(str(p), False) for p in dirs.user_config_files()]
    for candidate, must_exist in candidates:
        if not candidate:
            continue
        path = Path(candidate).expanduser()
        if path.is_file():
            if candidate == "config.yaml" and not _is_ours(path):
                warn(
                    f"ignoring {path.absolute()}: it has none of the sections "
                    f"{', '.join(SECTIONS)} (not a Conductor Loop config); "
                    "pass --config to use it anyway"
                )
                continue
            return path.absolute()
        if must_exist:
            raise ConfigError(f"config file {str(path)!r} does not exist")
    return None


def _is_ours(path: Path) -> bool:
    """Whether ``path`` has one of our sections at its top level (or cannot be read:
    then loading it says why)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return True
    if _OUR_SECTION.search(text):
        return True
    try:
        data = read_yaml(text, str(path))  # rare: only for files that look foreign
    except ConfigError:
        return False
    return any(section in data for section in SECTIONS)


def unknown_keys(data: dict[str, Any]) -> list[str]:
    """Top-level keys of a config that are none of our sections."""
    return sorted(str(key) for key in data if key not in SECTIONS)


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
    for section in SECTIONS:
        if section in data and data[section] is None:
            data[section] = {}
    return data


def parse_config(
    text: str, source: str = "<config>", *, use_cache: bool = False, warn: Warn | None = None
) -> Config:
    """Validate YAML text into a Config; errors name the key path (``agents.x.type``).
    Unknown top-level keys are ignored (other tools' sections), and named to ``warn``.

    With ``use_cache``, a text that validated before is rebuilt from ``config.cache``.
    Texts with unknown keys are not cached, so that every load warns about them.
    """
    config = cache.load(text, lambda: read_yaml(text, source)) if use_cache else None
    if config is None:
        data = read_yaml(text, source)
        unknown = unknown_keys(data)
        if unknown and warn is not None:
            warn(f"{source}: unknown top-level key(s) ignored: {', '.join(unknown)}")
        config = validate(Config, data, source)
        if use_cache and not unknown:
            cache.store(text, config)
    config.source = source
    return config


def apply_env_overrides(config: Config) -> Config:
    """``CONDUCTOR_HOST``, ``CONDUCTOR_PORT``, ``CONDUCTOR_API_KEY``, ``CONDUCTOR_EXECUTOR``
    and ``CONDUCTOR_RAY_ADDRESS`` win over the file."""
    config = _executor_overrides(config)
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


def _executor_overrides(config: Config) -> Config:
    """``CONDUCTOR_EXECUTOR`` (``local`` or ``ray``) and ``CONDUCTOR_RAY_ADDRESS``: a
    container picks its executor without a config file of its own."""
    updates: dict[str, Any] = {}
    if kind := os.environ.get("CONDUCTOR_EXECUTOR"):
        updates["type"] = kind
    if address := os.environ.get("CONDUCTOR_RAY_ADDRESS"):
        updates["address"] = address
    if not updates:
        return config
    merged = {f.name: getattr(config.executor, f.name) for f in dataclasses.fields(ExecutorConfig)}
    executor = validate(
        ExecutorConfig, merged | updates, "environment (CONDUCTOR_EXECUTOR, CONDUCTOR_RAY_ADDRESS)"
    )
    return dataclasses.replace(config, executor=executor)


def load_config(
    explicit: str | None = None, *, use_cache: bool = True, warn: Warn = warn_on_stderr
) -> Config:
    """Find, read and validate the configuration, then apply environment overrides."""
    path = find_config_file(explicit, warn=warn)
    if path is None:
        return apply_env_overrides(Config())
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror or exc}") from None
    return apply_env_overrides(parse_config(text, str(path), use_cache=use_cache, warn=warn))
