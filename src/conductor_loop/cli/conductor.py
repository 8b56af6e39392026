"""``conductor``: with no subcommand, the API server; subcommands are API clients."""

from __future__ import annotations

import click

from conductor_loop import __version__
from conductor_loop.cli.lazy import LazyGroup

_COMMANDS: dict[str, str] = {}


@click.group(
    cls=LazyGroup,
    lazy_commands=_COMMANDS,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="conductor")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Conductor Loop API server (no subcommand) and its client commands."""
    if ctx.invoked_subcommand is None:
        raise click.UsageError("the API server is not built yet; see the project's open issues")


def main() -> None:
    cli()
