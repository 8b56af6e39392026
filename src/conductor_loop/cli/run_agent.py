"""``run-agent``: the local CLI. Works on the runs root directly, no server needed."""

from __future__ import annotations

import click

from conductor_loop import __version__
from conductor_loop.cli.lazy import LazyGroup

_COMMANDS = {
    "bus": "conductor_loop.cli.bus_commands:bus",
    "config": "conductor_loop.cli.config_commands:config",
}


@click.group(
    cls=LazyGroup, lazy_commands=_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="run-agent")
def cli() -> None:
    """Run AI coding agents on tasks, record every run on disk, coordinate via a message bus."""


def main() -> None:
    cli()
