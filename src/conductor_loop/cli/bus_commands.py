"""``run-agent bus post|read|discover``: the message bus from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from conductor_loop.bus.locate import BusLocation, discover_bus, message_fields, resolve_bus
from conductor_loop.bus.message import Message
from conductor_loop.cli.common import (
    F,
    complete_project,
    complete_task,
    reports_errors,
    root_and_config_options,
)
from conductor_loop.storage.layout import RunsRoot, resolve_runs_root


def _runs_root(root: str | None, config_path: str | None) -> RunsRoot:
    """Runs root without loading config unless the flag and env leave it open."""
    import os

    if root or os.environ.get("CONDUCTOR_ROOT"):
        return resolve_runs_root(root)
    from conductor_loop.config import load_config

    return resolve_runs_root(None, load_config(config_path).storage.runs_dir)


def _locate(
    root: str | None,
    config_path: str | None,
    bus: str | None,
    project: str | None,
    task: str | None,
) -> BusLocation:
    runs_root = _runs_root(root, config_path) if (project or task) and not bus else None
    return resolve_bus(runs_root, bus=bus, project_id=project, task_id=task)


def _bus_options(func: F) -> F:
    func = click.option("--bus", "bus", help="Bus file path (overrides everything else).")(func)
    func = click.option(
        "--task",
        "task",
        shell_complete=complete_task,
        help="Task id (task bus); default: inferred.",
    )(func)
    func = click.option(
        "--project",
        "project",
        shell_complete=complete_project,
        help="Project id; default: inferred.",
    )(func)
    return root_and_config_options(func)


@click.group()
def bus() -> None:
    """Post to and read the message bus (project or task scope)."""


@bus.command()
@_bus_options
@click.option("--run", "run", help="Run id the message is about (default: $JRUN_ID).")
@click.option("--type", "msg_type", default="INFO", show_default=True, help="Message type.")
@click.option("--body", help="Message body (read from stdin when omitted).")
@click.option("--meta", multiple=True, metavar="KEY=VALUE", help="Metadata entry (repeatable).")
@click.option("--parent", "parents", multiple=True, metavar="MSG_ID", help="Reply to a message.")
@reports_errors
def post(
    root: str | None,
    config_path: str | None,
    bus: str | None,
    project: str | None,
    task: str | None,
    run: str | None,
    msg_type: str,
    body: str | None,
    meta: tuple[str, ...],
    parents: tuple[str, ...],
) -> None:
    """Append a message and print its id.

    The bus file is the one --bus names, else that of --project [--task] under the
    runs root, else $JRUN_MESSAGE_BUS (inside a run), else one found upwards from the
    current directory. Flags win over $JRUN_MESSAGE_BUS here, so that what you type is
    what happens; the Go tool lets the variable win.

    Prints the bare id (MSG-...), one line, for scripts; the Go tool prints
    "msg_id: MSG-...".
    """
    from conductor_loop.bus.message import Parent
    from conductor_loop.bus.writer import append_message

    location = _locate(root, config_path, bus, project, task)
    project_id, task_id, run_id = message_fields(
        location, project_id=project, task_id=task, run_id=run
    )
    if body is None:
        if sys.stdin.isatty():
            raise click.UsageError("give --body or pipe the body on stdin")
        # Any bytes are accepted: those that are not UTF-8 are stored as U+FFFD.
        body = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    meta_map = {}
    for item in meta:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--meta")
        meta_map[key] = value
    msg = Message(
        type=msg_type,
        project_id=project_id,
        task_id=task_id,
        run_id=run_id,
        body=body,
        meta=meta_map,
        parents=[Parent(p) for p in parents],
    )
    append_message(location.file, msg, root=location.root_dir)
    click.echo(msg.msg_id)


def _print(msg: Message, as_json: bool) -> None:
    if as_json:
        import json

        sys.stdout.write(json.dumps(msg.to_dict(), ensure_ascii=False) + "\n")
    else:
        scope = msg.project_id + (f"/{msg.task_id}" if msg.task_id else "")
        run = f" run={msg.run_id}" if msg.run_id else ""
        sys.stdout.write(f"{msg.ts} {msg.type} [{scope}]{run} {msg.msg_id}\n")
        for line in msg.body.split("\n") if msg.body else ():
            sys.stdout.write(f"  {line}\n")
    sys.stdout.flush()


@bus.command()
@_bus_options
@click.option(
    "--tail", "tail", type=click.IntRange(min=0), default=0, help="Last N messages (0 = all)."
)
@click.option("--since", "since", metavar="MSG_ID", help="Only messages after this id.")
@click.option(
    "--before",
    "before",
    metavar="MSG_ID",
    help="Page back: the --tail messages (default 100) before this id.",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new messages as they arrive.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@reports_errors
def read(
    root: str | None,
    config_path: str | None,
    bus: str | None,
    project: str | None,
    task: str | None,
    tail: int,
    since: str | None,
    before: str | None,
    follow: bool,
    as_json: bool,
) -> None:
    """Print messages from the bus."""
    from conductor_loop.bus import reader

    if before and (since or follow):
        raise click.UsageError("--before pages back: it goes with neither --since nor --follow")
    location = _locate(root, config_path, bus, project, task)
    path, runs_root = location.path, location.root
    if before:
        messages = reader.read_before(path, before, tail or reader.PAGE, root=runs_root)
    elif follow:
        # One read gives both what to print now and where following starts, so no
        # message appended in between is skipped.
        messages, offset = reader.read_from(path, 0, root=runs_root)
        if since:
            messages = reader.messages_after(messages, since, path)
    elif since:
        messages = reader.read_since(path, since, root=runs_root)
    else:
        messages = reader.read_tail(path, tail, root=runs_root)
    for msg in messages[-tail:] if tail else messages:
        _print(msg, as_json)
    if not follow:
        return
    try:
        for msg in reader.follow(path, offset=offset, root=runs_root):
            _print(msg, as_json)
    except KeyboardInterrupt:
        pass


@bus.command()
@click.option(
    "--from",
    "start",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    help="Directory to start the upward search from.",
)
@click.option("--json", "as_json", is_flag=True, help="Print path, project and task as JSON.")
def discover(start: Path, as_json: bool) -> None:
    """Find the nearest task or project bus above a directory."""
    found = discover_bus(start.absolute())
    if found is None:
        click.echo(f"error: no message bus found at or above {start.absolute()}", err=True)
        sys.exit(1)
    if as_json:
        import json

        click.echo(
            json.dumps(
                {"path": str(found.path), "project_id": found.project_id, "task_id": found.task_id}
            )
        )
    else:
        click.echo(str(found.path))
