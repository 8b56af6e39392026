"""What ``run-agent --help`` says, kept apart from click so that it can print without it.

The click group (``cli.app``) and the click-free renderer (``cli.fast_help``) both read
this module, so the two cannot say different things; tests/integration/test_cli_fast_help.py
checks that ``OPTIONS`` are the group's real options and that both print the same bytes.
Nothing here may import click (or anything else).
"""

from __future__ import annotations

# The group's help text, as ``inspect.cleandoc`` leaves a docstring.
GROUP_HELP = (
    "Run AI coding agents on tasks, record every run on disk, coordinate via a message bus.\n"
    "\n"
    "--config and --root work before the subcommand or after it; a subcommand's own\n"
    "flag wins over the one before it, and both over $CONDUCTOR_CONFIG/$CONDUCTOR_ROOT."
)

CONFIG_HELP = (
    "Config file (default: $CONDUCTOR_CONFIG, then ./config.yaml if it is ours, then "
    "$XDG_CONFIG_HOME/conductor/config.yaml, i.e. ~/.config/conductor/config.yaml)."
)
ROOT_HELP = "Runs root (default: $CONDUCTOR_ROOT, then storage.runs_dir, then ~/.run-agent/runs)."

HELP_OPTION_NAMES = ("-h", "--help")

# The usage line after the program name: click's "[OPTIONS]" and the group's metavar.
USAGE_ARGS = "[OPTIONS] COMMAND [ARGS]..."

# The group's options as click lists them (its help records, in order).
OPTIONS = (
    ("--version", "Show the version and exit."),
    ("--config TEXT", CONFIG_HELP),
    ("--root TEXT", ROOT_HELP),
    ("-h, --help", "Show this message and exit."),
)

# Each command's first help paragraph, so that `run-agent --help` imports none of them
# (tests/integration/test_cli_help.py keeps these equal to the docstrings).
SUMMARIES = {
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
