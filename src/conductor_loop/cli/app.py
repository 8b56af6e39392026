"""The ``run-agent`` click group; ``cli.run_agent.main`` is the entry point."""

from __future__ import annotations

import click

from conductor_loop import __version__
from conductor_loop.cli.group_help import (
    CONFIG_HELP,
    GROUP_HELP,
    HELP_OPTION_NAMES,
    ROOT_HELP,
    SUMMARIES,
)
from conductor_loop.cli.lazy import LazyGroup

_COMMANDS = {
    "bus": "conductor_loop.cli.bus_commands:bus",
    "config": "conductor_loop.cli.config_commands:config",
    "job": "conductor_loop.cli.run_commands:job",
    "task": "conductor_loop.cli.run_commands:task",
    "list": "conductor_loop.cli.inspect_commands:list_command",
    "status": "conductor_loop.cli.inspect_commands:status",
    "output": "conductor_loop.cli.inspect_commands:output",
    "stop": "conductor_loop.cli.control_commands:stop",
    "resume": "conductor_loop.cli.control_commands:resume",
    "validate": "conductor_loop.cli.control_commands:validate",
    "gc": "conductor_loop.cli.control_commands:gc",
}


@click.group(
    cls=LazyGroup,
    lazy_commands=_COMMANDS,
    summaries=SUMMARIES,
    help=GROUP_HELP,
    context_settings={"help_option_names": list(HELP_OPTION_NAMES)},
)
@click.version_option(__version__, prog_name="run-agent")
@click.option("--config", "config_path", help=CONFIG_HELP)
@click.option("--root", "root", help=ROOT_HELP)
def cli(config_path: str | None, root: str | None) -> None:
    """Does nothing itself: each subcommand takes --root/--config from here
    (``cli.common.inherited``); the help text is ``cli.group_help.GROUP_HELP``."""
