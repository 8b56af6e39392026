"""``conductor status|task|job|bus|project``: the click layer over ``conductor_loop.client``.

Only the client (httpx, httpx-sse) and click are imported here (never FastAPI), so
client commands start fast. Every command takes ``--server`` (``$CONDUCTOR_SERVER``) and
``--api-key`` (``$CONDUCTOR_API_KEY``; for a server on this machine, the key it
generated is used when none is given); a failed call is printed as ``error: <message>``
with exit 2.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from pathlib import Path
from typing import Any, NoReturn, TextIO

import click

from conductor_loop.cli.common import DURATION, F, prompt_from_options
from conductor_loop.client import DEFAULT_SERVER, ConductorClient, ConductorClientError
from conductor_loop.client.models import (
    LogLine,
    Message,
    RunDone,
    TaskBudget,
    TaskCreated,
)


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _reports_client_errors(func: F) -> F:
    """A failed API call becomes one ``error:`` line and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConductorClientError as exc:
            _fail(str(exc))

    return wrapper  # type: ignore[return-value]


def client_options(func: F) -> F:
    """``--server`` and ``--api-key``; a failed call exits with one ``error:`` line."""
    func = _reports_client_errors(func)
    func = click.option(
        "--api-key",
        envvar="CONDUCTOR_API_KEY",
        help="API key, if the server requires one ($CONDUCTOR_API_KEY; default for a "
        "loopback --server: the key that server generated, if any).",
    )(func)
    func = click.option(
        "--server",
        envvar="CONDUCTOR_SERVER",
        default=DEFAULT_SERVER,
        show_default=True,
        help="Server URL ($CONDUCTOR_SERVER).",
    )(func)
    return func


def _json_out(data: Any) -> None:
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        data = dataclasses.asdict(data)
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    for row in [headers, *rows]:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


# -- status ------------------------------------------------------------------------------


@click.command()
@client_options
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
def status(server: str, api_key: str | None, as_json: bool) -> None:
    """Server status: uptime, active runs, agents, running tasks."""
    data = ConductorClient(server, api_key).status()
    if as_json:
        _json_out(data)
        return
    click.echo(f"conductor {data.version} at {server}, up {data.uptime_seconds:.0f}s")
    click.echo(f"runs dir:     {data.runs_dir}")
    click.echo(f"active runs:  {data.active_runs}")
    click.echo(f"agents:       {', '.join(data.agents) or '(none configured)'}")
    click.echo(f"queued tasks: {data.queued_tasks}")
    for task in data.running_tasks:
        click.echo(f"  running {task.project_id}/{task.task_id} {task.run_id or ''}")


# -- tasks -------------------------------------------------------------------------------


@click.group()
def task() -> None:
    """Create, list, show, stop, resume and delete tasks on the server."""


def _submit_options(func: F) -> F:
    for decorator in reversed(
        [
            click.option("--project", "project", required=True, help="Project id."),
            click.option("--task", "task_id", help="Task id (default: generated)."),
            click.option("--agent", help="Agent name from the config (default: defaults.agent)."),
            click.option("--prompt", help="The task prompt."),
            click.option(
                "--prompt-file",
                type=click.Path(dir_okay=False, exists=True, path_type=Path),
                help="Read the prompt from a file.",
            ),
            click.option("--cwd", help="Working directory for the agent (on the server)."),
            click.option(
                "--timeout", type=DURATION, help="Per-run timeout (e.g. 90, 30s, 5m; 0 = none)."
            ),
        ]
    ):
        func = decorator(func)
    return func


def _submit(
    client: ConductorClient,
    *,
    project: str,
    prompt: str | None,
    prompt_file: Path | None,
    **options: Any,
) -> TaskCreated:
    """Submit the task the ``_submit_options`` (and a command's own options) describe."""
    text = prompt_from_options(prompt, prompt_file, read_stdin=True) or ""
    return client.submit_task(project, text, **options)


@task.command("submit")
@client_options
@_submit_options
@click.option("--max-restarts", type=click.IntRange(min=0), help="Restarts before giving up.")
@click.option("--restart-delay", type=DURATION, help="Pause between iterations (e.g. 500ms, 10s).")
@click.option(
    "--depends-on", multiple=True, help="Start only after this task is DONE (repeatable)."
)
@click.option(
    "--max-cost",
    "max_cost_usd",
    type=click.FloatRange(min=0),
    help="Budget in USD over all the task's runs (default: the server's; 0 = none).",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(min=0),
    help="Budget in input + output tokens (default: the server's; 0 = none).",
)
@click.option(
    "--budget-action",
    type=click.Choice(["finish_run", "stop_run"]),
    help="When the budget is reached: let running runs finish, or stop them.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON reply.")
def task_submit(server: str, api_key: str | None, as_json: bool, **options: Any) -> None:
    """Create a task and start its loop (or queue it)."""
    created = _submit(ConductorClient(server, api_key), **options)
    if as_json:
        _json_out(created)
        return
    where = f"{created.project_id}/{created.task_id}"
    if created.status == "queued":
        click.echo(f"{where} queued (position {created.queue_position})")
    else:
        click.echo(f"{where} {created.status} run {created.run_id or '(starting)'}")


@task.command("list")
@client_options
@click.option("--project", help="Only this project.")
@click.option("--status", help="Only tasks with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON reply.")
def task_list(
    server: str, api_key: str | None, project: str | None, status: str | None, as_json: bool
) -> None:
    """List tasks with their status."""
    data = ConductorClient(server, api_key).tasks(project_id=project, status=status or None)
    if as_json:
        _json_out(data)
        return
    rows = [
        [
            t.project_id,
            t.task_id,
            t.status + (f" #{t.queue_position}" if t.queue_position else ""),
            str(t.run_count),
            t.last_run_id or "-",
        ]
        for t in data.tasks
    ]
    _table(rows, ["PROJECT", "TASK", "STATUS", "RUNS", "LAST RUN"])


@task.command("show")
@client_options
@click.argument("task_id")
@click.option("--project", help="Project id (needed if the task id is not unique).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON reply.")
def task_show(
    server: str, api_key: str | None, task_id: str, project: str | None, as_json: bool
) -> None:
    """Show a task and its runs."""
    data = ConductorClient(server, api_key).task(task_id, project or None)
    if as_json:
        _json_out(data)
        return
    click.echo(f"{data.project_id}/{data.task_id}: {data.status}")
    if data.stop_reason:
        click.echo(f"stop reason: {data.stop_reason}")
    click.echo(f"budget: {_budget_line(data.budget)}")
    if data.waiting_for:
        click.echo(f"waiting for: {', '.join(data.waiting_for)}")
    rows = [
        [r.run_id, r.status, str(r.exit_code), r.start_time, r.end_time or "-"] for r in data.runs
    ]
    _table(rows, ["RUN", "STATUS", "EXIT", "STARTED", "ENDED"])


def _budget_line(budget: TaskBudget) -> str:
    """``$0.75 of $0.60, 4,500 tokens of 10,000 — exceeded``; ``none`` with the spending."""
    cost, tokens = budget.max_cost_usd, budget.max_tokens
    spent_cost = f"${budget.spent_cost_usd:g}"
    spent_tokens = f"{budget.spent_tokens:,} tokens"
    if not cost and not tokens:
        return f"none (spent {spent_cost}, {spent_tokens})"
    parts = [
        spent_cost + (f" of ${cost:g}" if cost else ""),
        spent_tokens + (f" of {tokens:,}" if tokens else ""),
    ]
    if budget.unknown_cost_runs:
        parts.append(f"{budget.unknown_cost_runs} run(s) of unknown cost counted as $0")
    return ", ".join(parts) + (" — exceeded" if budget.exceeded else "")


@task.command("stop")
@client_options
@click.argument("task_id")
@click.option("--project", help="Project id (needed if the task id is not unique).")
def task_stop(server: str, api_key: str | None, task_id: str, project: str | None) -> None:
    """Stop a task: its loop does not restart; running runs are stopped."""
    data = ConductorClient(server, api_key).stop_task(task_id, project or None)
    click.echo(f"{data.project_id}/{data.task_id}: {data.status}")


@task.command("resume")
@client_options
@click.argument("task_id")
@click.option("--project", required=True, help="Project id.")
def task_resume(server: str, api_key: str | None, task_id: str, project: str) -> None:
    """Remove DONE and start the task's loop again."""
    data = ConductorClient(server, api_key).resume_task(project, task_id)
    click.echo(f"{data.project_id}/{data.task_id}: {data.status} {data.run_id or ''}")


@task.command("delete")
@client_options
@click.argument("task_id")
@click.option("--project", required=True, help="Project id.")
def task_delete(server: str, api_key: str | None, task_id: str, project: str) -> None:
    """Delete a task and all its runs (it must not be running)."""
    data = ConductorClient(server, api_key).delete_task(project, task_id)
    click.echo(f"{data.project_id}/{data.task_id}: {data.status}")


# -- jobs --------------------------------------------------------------------------------


@click.group()
def job() -> None:
    """Run one agent execution (no restarts) through the server."""


@job.command("submit")
@client_options
@_submit_options
@click.option(
    "-f",
    "--follow",
    is_flag=True,
    help="Print the agent's transcript until the run ends; exit with its code.",
)
@click.option(
    "--raw",
    is_flag=True,
    help="With --follow: print the agent's output as it is (JSON lines), not rendered.",
)
def job_submit(server: str, api_key: str | None, follow: bool, raw: bool, **options: Any) -> None:
    """Start a single run (a task with no restarts).

    With --follow, print its transcript as `run-agent job -f` does and exit with the
    run's exit code.
    """
    client = ConductorClient(server, api_key)
    created = _submit(client, max_restarts=0, **options)
    if not follow:
        click.echo(created.run_id or f"{created.project_id}/{created.task_id} {created.status}")
        return
    if not created.run_id:
        _fail(f"the job has not started yet ({created.status}); follow it later")
    sys.exit(follow_run(client, created.run_id, raw=raw))


def follow_run(client: ConductorClient, run_id: str, *, raw: bool = False) -> int:
    """Print a run's output as it is written (rendered unless ``raw``); returns the
    run's exit code."""
    from conductor_loop.cli.transcript import TranscriptRenderer, colour_wanted

    renderer = None if raw else TranscriptRenderer(colour=colour_wanted(sys.stdout))
    exit_code = 1
    for event in client.stream_run(run_id):
        if isinstance(event, LogLine):
            if event.stream == "stderr":
                _write(sys.stderr, [event.line])
            else:
                _write(sys.stdout, [event.line] if renderer is None else renderer.feed(event.line))
        elif isinstance(event, RunDone):
            exit_code = event.exit_code if 0 <= event.exit_code <= 255 else 1
    if renderer is not None:
        _write(sys.stdout, renderer.finish())
    return exit_code


def _write(stream: TextIO, lines: list[str]) -> None:
    if lines:
        stream.write("".join(line + "\n" for line in lines))
        stream.flush()


# -- bus ---------------------------------------------------------------------------------


@click.group()
def bus() -> None:
    """Post to and read the message bus through the server.

    The bus of a project, or of one of its tasks with --task.
    """


def _print_message(msg: Message, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(msg), ensure_ascii=False))
        return
    scope = msg.project_id + (f"/{msg.task_id}" if msg.task_id else "")
    run = f" run={msg.run_id}" if msg.run_id else ""
    click.echo(f"{msg.ts} {msg.type} [{scope}]{run} {msg.msg_id}")
    for line in msg.body.split("\n") if msg.body else ():
        click.echo(f"  {line}")


@bus.command("post")
@client_options
@click.option("--project", required=True, help="Project id.")
@click.option("--task", "task_id", help="Task id (task bus); default: project bus.")
@click.option("--run", "run_id", help="Run id the message is about.")
@click.option("--type", "msg_type", default="USER", show_default=True, help="Message type.")
@click.option("--body", help="Message body (read from stdin when omitted).")
def bus_post(
    server: str,
    api_key: str | None,
    project: str,
    task_id: str | None,
    run_id: str | None,
    msg_type: str,
    body: str | None,
) -> None:
    """Append a message; prints its msg_id."""
    if body is None:
        if sys.stdin.isatty():
            raise click.UsageError("give --body or pipe the body on stdin")
        body = sys.stdin.read()
    posted = ConductorClient(server, api_key).post_message(
        project, body, task_id=task_id or None, run_id=run_id or None, type=msg_type
    )
    click.echo(posted.msg_id)


@bus.command("read")
@client_options
@click.option("--project", required=True, help="Project id.")
@click.option("--task", "task_id", help="Task id (task bus); default: project bus.")
@click.option("--tail", type=click.IntRange(min=1), help="Only the last N messages.")
@click.option(
    "--before",
    metavar="MSG_ID",
    help="Page back: the --tail messages (default 100) before this id.",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new messages.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def bus_read(
    server: str,
    api_key: str | None,
    project: str,
    task_id: str | None,
    tail: int | None,
    before: str | None,
    follow: bool,
    as_json: bool,
) -> None:
    """Print messages from the bus.

    With --follow, keep printing new ones as they are posted.
    """
    if before and follow:
        raise click.UsageError("--before pages back: it does not go with --follow")
    client = ConductorClient(server, api_key)
    task_id = task_id or None
    try:
        if follow:
            for msg in client.stream_messages(project, task_id, tail=tail):
                _print_message(msg, as_json)
            return
        for msg in client.messages(project, task_id, tail=tail, before=before or None).messages:
            _print_message(msg, as_json)
    except KeyboardInterrupt:
        pass


# -- projects ----------------------------------------------------------------------------


@click.group()
def project() -> None:
    """Projects on the server."""


@project.command("list")
@client_options
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON reply.")
def project_list(server: str, api_key: str | None, as_json: bool) -> None:
    """List projects with task and run counts."""
    data = ConductorClient(server, api_key).projects()
    if as_json:
        _json_out(data)
        return
    rows = [
        [
            p.project_id,
            str(p.task_count),
            str(p.run_count),
            str(p.running_runs),
            p.last_activity or "-",
        ]
        for p in data.projects
    ]
    _table(rows, ["PROJECT", "TASKS", "RUNS", "RUNNING", "LAST ACTIVITY"])


@project.command("stats")
@client_options
@click.argument("project_id")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON reply.")
def project_stats(server: str, api_key: str | None, project_id: str, as_json: bool) -> None:
    """Task and run counts by status for one project."""
    data = ConductorClient(server, api_key).project_stats(project_id)
    if as_json:
        _json_out(data)
        return
    click.echo(f"project {data.project_id}: {data.task_count} tasks, {data.run_count} runs")
    for kind, counts in (
        ("tasks by status", data.tasks_by_status),
        ("runs by status", data.runs_by_status),
    ):
        listed = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
        click.echo(f"  {kind}: {listed}")
    click.echo(f"  message bus: {data.bus_bytes} bytes")
