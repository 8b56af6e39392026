"""``run-agent bus post`` without click: the common case, started in a few milliseconds.

An agent posts many messages during a run, each from a new process, so start-up is most
of what a post costs; click, the config loader and their imports would be three quarters
of it. ``try_post`` takes the command lines that say everything it needs (flags, or the
``JRUN_*`` environment of a run) and returns None for any other one: help, a flag it does
not know, a ``KEY=VALUE`` to complain about, a runs root only the config can give, a bus
it cannot locate. Those go to the click command, which gives its own messages. Both use
the same locate, message and writer code, so both store the same record, and they are
tested to behave alike. Nothing here may import click, pydantic, yaml or the server
stack, nor the costly standard modules (pathlib, re, dataclasses, typing, contextlib,
...): tests/integration/test_cli_bus_fast.py checks.
"""

from __future__ import annotations

import os
import sys

from conductor_loop.errors import (
    EXIT_STORAGE,
    ConductorError,
    StorageError,
    os_error_text,
    storage_error,
)

# ``post``'s options that take one value (the last given wins, as in click), and the
# repeatable ones; ``--root``/``--config`` may also come before ``bus``.
_SINGLE = {
    "--bus": "bus",
    "--project": "project",
    "--task": "task",
    "--run": "run",
    "--type": "type",
    "--body": "body",
    "--root": "root",
    "--config": "config",
}
_MULTIPLE = {"--meta": "meta", "--parent": "parent"}
_POST_OPTIONS = {**_SINGLE, **_MULTIPLE}
_GROUP_OPTIONS = {"--root": "root", "--config": "config"}


def _parse(args: list[str]) -> tuple[dict[str, str], dict[str, list[str]]] | None:
    """The options of ``[--root R] [--config C] bus post OPTIONS``; None for anything else."""
    single: dict[str, str] = {}
    multiple: dict[str, list[str]] = {"meta": [], "parent": []}
    before: dict[str, str] = {}
    i = 0
    words: list[str] = []
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        known = _GROUP_OPTIONS if not words else _POST_OPTIONS if len(words) == 2 else {}
        if name in known:
            if not eq:
                if i + 1 >= len(args):
                    return None  # a missing value: click says so
                i += 1
                value = args[i]
            key = known[name]
            if not words:
                before[key] = value
            elif key in multiple:
                multiple[key].append(value)
            else:
                single[key] = value
        elif arg.startswith("-") or len(words) >= 2:
            return None  # help, version, an unknown flag, an extra argument
        else:
            words.append(arg)
            if words != ["bus", "post"][: len(words)]:
                return None
        i += 1
    if words != ["bus", "post"]:
        return None
    for key, value in before.items():  # the subcommand's own flag wins
        single.setdefault(key, value)
    return single, multiple


def try_post(args: list[str]) -> int | None:
    """Run ``bus post`` for command-line ``args`` (without the program name) and return
    its exit status; None, having done nothing, when the click command must handle it."""
    parsed = _parse(args)
    if parsed is None:
        return None
    opts, multi = parsed
    meta: dict[str, str] = {}
    for item in multi["meta"]:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return None
        meta[key] = value
    body = opts.get("body")
    if body is None and sys.stdin.isatty():
        return None

    from conductor_loop.bus.locate import message_fields, resolve_bus

    bus, project, task = opts.get("bus"), opts.get("project"), opts.get("task")
    try:
        runs_root = None
        if (project or task) and not bus:
            root = opts.get("root")
            if not (root or os.environ.get("CONDUCTOR_ROOT")):
                return None  # the runs root comes from the config file
            from conductor_loop.storage.layout import runs_root_dir

            runs_root = runs_root_dir(root)
        location = resolve_bus(runs_root, bus=bus, project_id=project, task_id=task)
        project_id, task_id, run_id = message_fields(
            location, project_id=project, task_id=task, run_id=opts.get("run")
        )
    except (ConductorError, OSError):
        return None  # nothing done yet: the click command reports it

    from conductor_loop.bus.message import Message, Parent
    from conductor_loop.bus.writer import append_message

    if body is None:
        # Any bytes are accepted: those that are not UTF-8 are stored as U+FFFD.
        body = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    msg = Message(
        type=opts.get("type", "INFO"),
        project_id=project_id,
        task_id=task_id,
        run_id=run_id,
        body=body,
        meta=meta,
        parents=[Parent(p) for p in multi["parent"]],
    )
    try:
        append_message(location.file, msg, root=location.root_dir)
    except ConductorError as exc:  # as cli.common.reports_errors
        _note(f"error: {exc.message}")
        return EXIT_STORAGE if isinstance(exc, StorageError) else 2
    except OSError as exc:
        error = storage_error(exc, writing=False)
        if error is None:
            _note(f"error: {os_error_text(exc)}")
            return 2
        _note(f"error: {error.message}")
        return EXIT_STORAGE
    sys.stdout.write(msg.msg_id + "\n")
    sys.stdout.flush()
    return 0


def _note(message: str) -> None:
    """A line on stderr, at best (as ``cli.common.note``)."""
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except OSError:
        pass
