"""A click group that imports each subcommand's module only when it is invoked.

Keeps ``run-agent bus post`` fast: the CLI never imports the server stack (FastAPI,
uvicorn) or the agent backends unless the chosen command needs them. With ``summaries``
(each command's first help paragraph, which a test keeps equal to its docstring), the
group's ``--help`` lists the commands without importing any of them.
"""

from __future__ import annotations

import importlib
from typing import Any

import click


class LazyGroup(click.Group):
    def __init__(
        self,
        *args: Any,
        lazy_commands: dict[str, str] | None = None,
        summaries: dict[str, str] | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self._lazy_commands = dict(lazy_commands or {})
        self._summaries = dict(summaries or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self._lazy_commands.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As ``click.Group.format_commands``, with the declared summaries standing in for
        the commands they describe (shortened by click's own rule)."""
        commands: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            summary = self._summaries.get(name) if name in self._lazy_commands else None
            command = (
                click.Command(name, help=summary)
                if summary is not None
                else self.get_command(ctx, name)
            )
            if command is not None and not command.hidden:
                commands.append((name, command))
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            rows = [(name, command.get_short_help_str(limit)) for name, command in commands]
            with formatter.section("Commands"):
                formatter.write_dl(rows)
