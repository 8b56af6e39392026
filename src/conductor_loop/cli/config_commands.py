"""``run-agent config validate|init``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from conductor_loop.agents.registry import INLINE_TOKEN_NOTE
from conductor_loop.cli.common import config_option, reports_errors
from conductor_loop.config.loader import find_config_file, load_config, user_config_path
from conductor_loop.config.template import DEFAULT_CONFIG_TEMPLATE
from conductor_loop.errors import ConfigError


@click.group()
def config() -> None:
    """Check or create the configuration file."""


@config.command()
@config_option
@reports_errors
def validate(config_path: str | None) -> None:
    """Check the config file: its schema, values and token files.

    Exits 2 naming the bad key when the file is invalid, 1 when a token file cannot be
    read or defaults.agent names no configured agent. Whether the agents can run on
    this machine (executable, login or token) is what `run-agent validate` checks.
    """
    path = find_config_file(config_path)
    cfg = load_config(str(path) if path else None, use_cache=False)
    if path is None:
        click.echo("no config file found; built-in defaults are in effect")
    else:
        click.echo(f"{path}: valid (schema and values)")
    problems = 0
    for name, agent in sorted(cfg.agents.items()):
        try:
            has_token = agent.resolve_token() is not None
        except ConfigError as exc:
            click.echo(f"  agent {name} ({agent.type}): {exc.message}", err=True)
            problems += 1
            continue
        token = "set" if has_token else "not set"
        if has_token and agent.token is not None:
            token = f"set ({INLINE_TOKEN_NOTE})"
        click.echo(f"  agent {name} ({agent.type}): token {token}")
    if cfg.defaults.agent and cfg.defaults.agent not in cfg.agents:
        click.echo(f"  defaults.agent: {cfg.defaults.agent!r} is not a configured agent", err=True)
        problems += 1
    if problems:
        click.echo(f"{problems} problem(s) found: fix them before running agents", err=True)
        sys.exit(1)


@config.command()
@click.option(
    "--path",
    "target",
    help="Where to write it (default: the user config, $XDG_CONFIG_HOME/conductor/config.yaml"
    " or ~/.config/conductor/config.yaml).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(target: str | None, force: bool) -> None:
    """Write a commented default configuration.

    The file is made readable by its owner only (0600): it may hold tokens.
    """
    path = Path(target).expanduser() if target is not None else user_config_path()
    if path is None:
        raise click.UsageError("no home directory to put the user config in: give --path")
    if path.exists() and not force:
        raise click.ClickException(f"{path} already exists (use --force to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only, also when overwriting: the file invites inline tokens.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with open(fd, "w", encoding="utf-8") as handle:
        os.fchmod(fd, 0o600)
        handle.write(DEFAULT_CONFIG_TEMPLATE)
    click.echo(f"wrote {path}")
