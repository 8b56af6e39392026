"""The configuration as agents see it: the copy an agent process's ``CONDUCTOR_CONFIG`` names.

Agents start child runs with ``run-agent job``, which needs the config; but an agent must
not read the other agents' secrets or the server's API key from it (issue 10). The copy
keeps every setting, with ``token_file`` paths made absolute (the child's runner reads the
file), and leaves out inline tokens, ``env`` entries whose names look like secrets, and
``api.api_key``/``api.api_key_file``. An agent's ``withheld`` lists what was left out of
it, so that a child run can say why it has no token instead of failing silently. The
copy of a copy is the copy itself.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import fields, is_dataclass
from typing import Any

from conductor_loop.config.models import AgentConfig, Config, Secret
from conductor_loop.storage.yamlish import scalar

HEADER = (
    "# The configuration as agents see it, written by conductor-loop for child runs:\n"
    "# inline tokens, secret-looking env entries and the API key are left out.\n"
    "# Regenerated from the real configuration; do not edit.\n"
)
_LEFT_OUT: dict[str, tuple[str, ...]] = {"api": ("api_key", "api_key_file")}
_SECRET_WORDS = frozenset(
    {"KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASS", "CREDENTIAL"}
    | {"CREDENTIALS", "AUTH", "PAT", "PRIVATE"}
)


def looks_secret(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret (``*_API_KEY``,
    ``*_TOKEN``, ``*_AUTH_*``, ``*_PASSWORD`` …); ``MAX_TOKENS`` does not."""
    return any(word in _SECRET_WORDS for word in re.split(r"[^A-Z0-9]+", name.upper()))


def agent_view(config: Config) -> dict[str, Any]:
    """The copy as plain data (what ``agent_view_text`` writes)."""
    view: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if f.name == "source":
            continue
        if f.name == "agents":
            view["agents"] = {name: _agent(agent) for name, agent in value.items()}
        elif is_dataclass(value):
            view[f.name] = _plain(value, _LEFT_OUT.get(f.name, ()))
        elif value is not None:
            view[f.name] = value
    return view


def agent_view_text(config: Config) -> str:
    """The copy as YAML: the same config always gives the same text (it is content-named).

    Written by hand (``yamlish.scalar`` for strings): importing PyYAML would be a tenth
    of the start-up of every ``run-agent job``. A value outside what that covers (a float
    that would need an exponent, a nested list) goes to PyYAML."""
    view = agent_view(config)
    try:
        lines: list[str] = []
        _block(view, "", lines)
        return HEADER + "".join(lines)
    except _NotPlain:
        import yaml

        return HEADER + yaml.safe_dump(view, sort_keys=True, default_flow_style=False)


class _NotPlain(Exception):
    """A value ``_block`` does not write."""


def _block(mapping: dict[str, Any], indent: str, lines: list[str]) -> None:
    """``mapping`` in block style with sorted keys, as ``yaml.safe_dump`` lays it out."""
    for key in sorted(mapping):
        value = mapping[key]
        head = f"{indent}{_scalar(key)}:"
        if isinstance(value, dict):
            if not value:
                lines.append(f"{head} {{}}\n")
                continue
            lines.append(head + "\n")
            _block(value, indent + "  ", lines)
        elif isinstance(value, list):
            lines.append(head + (" []\n" if not value else "\n"))
            lines += [f"{indent}- {_scalar(item)}\n" for item in value]
        else:
            lines.append(f"{head} {_scalar(value)}\n")


def _scalar(value: object) -> str:
    """A plain value as YAML that reads back with its type (str, bool, int, float)."""
    if isinstance(value, str):
        return scalar(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        text = repr(value)
        if "." in text and "e" not in text:  # YAML 1.1 reads 1e-05 as a string
            return text
    raise _NotPlain(repr(value))


def _plain(section: Any, left_out: tuple[str, ...] = ()) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields(section):
        value = getattr(section, f.name)
        if f.name in left_out or value is None or isinstance(value, Secret):
            continue
        if is_dataclass(value) and not isinstance(value, type):
            value = _plain(value)  # a nested section (an agent's pricing)
        values[f.name] = value
    return values


def _agent(agent: AgentConfig) -> dict[str, Any]:
    values = _plain(agent, ("env", "withheld"))
    withheld = set(agent.withheld)
    if agent.token is not None and agent.token.get_secret_value().strip():
        withheld.add("token")
    env: dict[str, str] = {}
    for name, value in agent.env.items():
        if name == agent.token_env or looks_secret(name):
            withheld.add(f"env.{name}")
        else:
            env[name] = value
    if env:
        values["env"] = env
    if agent.token_file:
        values["token_file"] = os.path.abspath(os.path.expanduser(agent.token_file))
    if withheld:
        values["withheld"] = sorted(withheld)
    return values
