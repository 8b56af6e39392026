"""The ``run-agent`` click group; ``cli.run_agent.main`` is the entry point."""

from __future__ import annotations

import click

from conductor_loop import __version__
from conductor_loop.cli.common import CONFIG_HELP, ROOT_HELP
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
# Each command's first help paragraph, so that `run-agent --help` imports none of them
# (tests/integration/test_cli_help.py keeps these equal to the docstrings).
_SUMMARIES = {
    "bus": "Post to and read the message bus (project or task scope).",
    "config": "Check or create the configuration file.",
    "gc": "Delete old finished runs (never running ones).",
    "job": "Run one agent once (no restarts).",
    "list": "List projects, a project's tasks, or a task's runs.",
    "output": "Print a run's output.md, agent stdout/stderr or prompt.",
    "resume": "Run a task's loop again, continuing from its last run.",
    "status": "Summarise tasks and runs: counts by status, and how long.",
    "stop": "Stop a run, or a whole task with its loop and runs.",
    "task": "Run a task in the Ralph loop until it is DONE.",
    "validate": "Check that each configured agent can run on this machine.",
}


@click.group(
    cls=LazyGroup,
    lazy_commands=_COMMANDS,
    summaries=_SUMMARIES,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="run-agent")
@click.option("--config", "config_path", help=CONFIG_HELP)
@click.option("--root", "root", help=ROOT_HELP)
def cli(config_path: str | None, root: str | None) -> None:
    """Run AI coding agents on tasks, record every run on disk, coordinate via a message bus.

    --config and --root work before the subcommand or after it; a subcommand's own
    flag wins over the one before it, and both over $CONDUCTOR_CONFIG/$CONDUCTOR_ROOT.
    """
