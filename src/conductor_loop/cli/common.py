"""Options and helpers shared by every CLI command: --root, --config, error reporting."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from conductor_loop.cli.group_help import CONFIG_HELP, ROOT_HELP
from conductor_loop.errors import (
    EXIT_STORAGE,
    ConductorError,
    StorageError,
    os_error_text,
    storage_error,
)

if TYPE_CHECKING:
    from pathlib import Path

    from click.shell_completion import CompletionItem

    from conductor_loop.storage.layout import RunsRoot

F = TypeVar("F", bound=Callable[..., Any])


def inherited(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A command's own ``--root``/``--config``, else the nearest one given before it
    (``run-agent --root R list``). The environment comes after both: the loader reads it."""
    if value is not None or param.name is None or ctx.parent is None:
        return value
    return _given(ctx.parent, param.name)


def _given(ctx: click.Context, name: str) -> Any:
    """A parameter's value in this command or the nearest command above it."""
    current: click.Context | None = ctx
    while current is not None:
        if current.params.get(name) is not None:
            return current.params[name]
        current = current.parent
    return None


def _completion_root(ctx: click.Context) -> RunsRoot | None:
    """The runs root a command being completed would use; None if that fails."""
    from conductor_loop.storage.layout import resolve_runs_root

    try:
        root = _given(ctx, "root")
        if root or os.environ.get("CONDUCTOR_ROOT"):
            return resolve_runs_root(root)
        from conductor_loop.config import load_config

        config = load_config(_given(ctx, "config_path"), warn=lambda _message: None)
        return resolve_runs_root(None, config.storage.runs_dir)
    except Exception:  # completion must never fail with a traceback
        return None


def _ids(names: list[str], incomplete: str) -> list[CompletionItem]:
    from click.shell_completion import CompletionItem

    return [CompletionItem(n) for n in sorted(set(names)) if n.startswith(incomplete)]


def complete_project(ctx: click.Context, _param: click.Parameter, incomplete: str) -> Any:
    """Shell completion of ``--project``: the projects under the runs root."""
    runs_root = _completion_root(ctx)
    try:
        return _ids(runs_root.project_ids() if runs_root else [], incomplete)
    except (OSError, ConductorError):
        return []


def complete_task(ctx: click.Context, _param: click.Parameter, incomplete: str) -> Any:
    """Shell completion of ``--task``: the tasks of ``--project`` (of every project when
    it is not given yet)."""
    runs_root = _completion_root(ctx)
    if runs_root is None:
        return []
    try:
        project = _given(ctx, "project")
        projects = [project] if project else runs_root.project_ids()
        return _ids([t for p in projects for t in runs_root.task_ids(p)], incomplete)
    except (OSError, ConductorError):
        return []


def config_option(func: F) -> F:
    """``--config``, inheriting the one given before the subcommand."""
    return click.option("--config", "config_path", callback=inherited, help=CONFIG_HELP)(func)


def root_and_config_options(func: F) -> F:
    """Add ``--root`` and ``--config`` (spec §6: every command takes both); given before
    the subcommand they apply too, and a command's own flag wins."""
    func = config_option(func)
    func = click.option("--root", "root", callback=inherited, help=ROOT_HELP)(func)
    return func


def reports_errors(func: F) -> F:
    """Turn ConductorError, and an OSError (a path that cannot be used), into a one-line
    message on stderr and exit status 2; a full or unwritable disk (StorageError, or an
    OSError saying so) exits with EXIT_STORAGE."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConductorError as exc:
            note(f"error: {exc.message}")
            sys.exit(EXIT_STORAGE if isinstance(exc, StorageError) else 2)
        except OSError as exc:
            error = storage_error(exc, writing=False)
            if error is None:
                note(f"error: {os_error_text(exc)}")
                sys.exit(2)
            note(f"error: {error.message}")
            sys.exit(EXIT_STORAGE)

    return wrapper  # type: ignore[return-value]


def note(message: str) -> None:
    """A line on stderr, at best: on a full disk a runner's stderr (the task's
    ``runner.log``) may not take it, and that must not turn into a crash."""
    with contextlib.suppress(OSError):
        click.echo(message, err=True)


class DurationType(click.ParamType):  # type: ignore[type-arg]  # generic only in click 8.5+
    """A duration flag: seconds or ``500ms``/``10s``/``5m``/``1h``/``7d`` (``durations``),
    given to the command as seconds (float); the same syntax as config keys and the API."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from conductor_loop.durations import parse_duration

        if isinstance(value, float):
            return value
        try:
            return parse_duration(value, "duration")
        except ConductorError as exc:
            self.fail(exc.message.removeprefix("duration: "), param, ctx)


DURATION = DurationType()


def prompt_from_options(
    prompt: str | None, prompt_file: Path | None, *, read_stdin: bool
) -> str | None:
    """The text of ``--prompt`` or ``--prompt-file`` (not both); without either, standard
    input when ``read_stdin`` (an error if it is a terminal), else None."""
    if prompt is not None and prompt_file is not None:
        raise click.UsageError("give --prompt or --prompt-file, not both")
    if prompt_file is not None:
        try:
            return prompt_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise click.BadParameter(
                f"cannot read {str(prompt_file)!r}: {reason}", param_hint="'--prompt-file'"
            ) from None
    if prompt is not None or not read_stdin:
        return prompt
    if sys.stdin.isatty():
        raise click.UsageError("give --prompt, --prompt-file, or the prompt on stdin")
    return sys.stdin.read()
