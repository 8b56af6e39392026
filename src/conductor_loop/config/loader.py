"""Finding, reading and validating the configuration file."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from conductor_loop.config import cache, dirs
from conductor_loop.config.models import ApiConfig, Config, ExecutorConfig
from conductor_loop.config.validation import validate
from conductor_loop.errors import ConfigError

S = TypeVar("S", ApiConfig, ExecutorConfig)  # a config section the environment overrides

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
    (``local`` or ``ray``) and ``CONDUCTOR_RAY_ADDRESS`` win over the file: a container
    picks its bind, key and executor without a config file of its own."""
    env = os.environ
    executor = _overridden(
        config.executor,
        {"type": env.get("CONDUCTOR_EXECUTOR"), "address": env.get("CONDUCTOR_RAY_ADDRESS")},
        "environment (CONDUCTOR_EXECUTOR, CONDUCTOR_RAY_ADDRESS)",
    )
    api = _overridden(
        config.api,
        {
            "host": env.get("CONDUCTOR_HOST"),
            "port": env.get("CONDUCTOR_PORT"),
            "api_key": env.get("CONDUCTOR_API_KEY"),
        },
        "environment (CONDUCTOR_*)",
    )
    if api is config.api and executor is config.executor:
        return config
    return dataclasses.replace(config, api=api, executor=executor)


def _overridden(section: S, values: dict[str, str | None], source: str) -> S:
    """``section`` with the set (non-empty) ``values`` put in, checked as the file is."""
    updates = {key: value for key, value in values.items() if value}
    if not updates:
        return section
    merged = {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}
    return validate(type(section), merged | updates, source)


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
