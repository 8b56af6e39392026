"""``conductor status|task|job|bus|project``: thin clients of the REST + SSE API.

Only httpx and click are imported here (never FastAPI), so client commands start fast.
Every command takes ``--server`` (``$CONDUCTOR_SERVER``) and ``--api-key``
(``$CONDUCTOR_API_KEY``; for a server on this machine, the key it generated is used
when none is given); API errors are printed as ``error: <message>`` with exit 2.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO

import click
import httpx

from conductor_loop.cli.common import DURATION, F, prompt_from_options

DEFAULT_SERVER = "http://127.0.0.1:14355"


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _fail_with(response: httpx.Response) -> NoReturn:
    """Exit with the API's error message (its uniform error body), or the raw reply."""
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text.strip() or response.reason_phrase
    _fail(f"{message} (HTTP {response.status_code})")


@dataclass(slots=True)
class Event:
    event: str
    id: str | None
    data: Any


# The server refuses state-changing requests without this header, body or not: it is
# what a cross-site form cannot send.
_JSON_HEADERS = {"Content-Type": "application/json"}
_STATE_CHANGING = frozenset(("POST", "PUT", "PATCH", "DELETE"))


def local_generated_key(server: str) -> str | None:
    """The key a server on this machine generated (its state directory), for loopback
    URLs only: a key is never offered to another host."""
    from urllib.parse import urlsplit

    from conductor_loop.api.access import is_loopback, read_generated_key
    from conductor_loop.errors import ConductorError
    from conductor_loop.storage.state import resolve_state_dir

    host = urlsplit(server).hostname or ""
    if not is_loopback(host):
        return None
    try:
        return read_generated_key(resolve_state_dir())
    except ConductorError:
        return None


class ApiClient:
    def __init__(self, server: str, api_key: str | None, timeout: float = 30.0) -> None:
        headers = {"Accept": "application/json"}
        api_key = api_key or local_generated_key(server)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.server = server.rstrip("/")
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if method in _STATE_CHANGING:
            kwargs["headers"] = {**_JSON_HEADERS, **kwargs.get("headers", {})}
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            _fail(f"cannot reach the server at {self.server}: {exc}")
        if response.status_code >= 400:
            _fail_with(response)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def events(
        self, path: str, params: dict[str, Any] | None = None, *, reconnect: bool = True
    ) -> Iterator[Event]:
        """Server-sent events; reconnects with Last-Event-ID after a dropped connection."""
        last_id: str | None = None
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
            try:
                with self._http.stream(
                    "GET",
                    path,
                    params=params,
                    headers=headers,
                    timeout=httpx.Timeout(30, read=None),
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        _fail_with(response)
                    for event in parse_sse(response.iter_lines()):
                        if event.id is not None:
                            last_id = event.id
                        yield event
                return
            except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
                if not reconnect:
                    _fail(f"event stream from {self.server} broke: {exc}")
                time.sleep(1.0)


def parse_sse(lines: Iterator[str]) -> Iterator[Event]:
    event: str = "message"
    event_id: str | None = None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                text = "\n".join(data)
                try:
                    payload: Any = json.loads(text)
                except ValueError:
                    payload = text
                yield Event(event, event_id, payload)
            event, event_id, data = "message", None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "id":
            event_id = value
        elif name == "data":
            data.append(value)


def client_options(func: F) -> F:
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
    data = ApiClient(server, api_key).request("GET", "/api/v1/status")
    if as_json:
        _json_out(data)
        return
    click.echo(f"conductor {data['version']} at {server}, up {data['uptime_seconds']:.0f}s")
    click.echo(f"runs dir:     {data['runs_dir']}")
    click.echo(f"active runs:  {data['active_runs']}")
    click.echo(f"agents:       {', '.join(data['agents']) or '(none configured)'}")
    click.echo(f"queued tasks: {data['queued_tasks']}")
    for task in data["running_tasks"]:
        click.echo(f"  running {task['project_id']}/{task['task_id']} {task['run_id'] or ''}")


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
    server: str,
    api_key: str | None,
    *,
    project: str,
    task_id: str | None,
    agent: str | None,
    prompt: str | None,
    prompt_file: Path | None,
    cwd: str | None,
    timeout: float | None,
    **extra: Any,
) -> tuple[ApiClient, Any]:
    """POST the task the ``_submit_options`` describe; returns the client and the reply."""
    client = ApiClient(server, api_key, timeout=60)
    text = prompt_from_options(prompt, prompt_file, read_stdin=True) or ""
    body: dict[str, Any] = {"project_id": project, "prompt": text}
    for key, value in (
        ("task_id", task_id),
        ("agent_type", agent),
        ("cwd", cwd),
        ("timeout", timeout),
        *extra.items(),
    ):
        if value not in (None, [], ()):
            body[key] = list(value) if isinstance(value, tuple) else value
    return client, client.request("POST", "/api/v1/tasks", json=body)


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
    _, created = _submit(server, api_key, **options)
    if as_json:
        _json_out(created)
        return
    where = f"{created['project_id']}/{created['task_id']}"
    if created["status"] == "queued":
        click.echo(f"{where} queued (position {created['queue_position']})")
    else:
        click.echo(f"{where} {created['status']} run {created['run_id'] or '(starting)'}")


@task.command("list")
@client_options
@click.option("--project", help="Only this project.")
@click.option("--status", help="Only tasks with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON reply.")
def task_list(
    server: str, api_key: str | None, project: str | None, status: str | None, as_json: bool
) -> None:
    """List tasks with their status."""
    params = {k: v for k, v in (("project_id", project), ("status", status)) if v}
    data = ApiClient(server, api_key).request("GET", "/api/v1/tasks", params=params)
    if as_json:
        _json_out(data)
        return
    rows = [
        [
            t["project_id"],
            t["task_id"],
            t["status"] + (f" #{t['queue_position']}" if t["queue_position"] else ""),
            str(t["run_count"]),
            t["last_run_id"] or "-",
        ]
        for t in data["tasks"]
    ]
    _table(rows, ["PROJECT", "TASK", "STATUS", "RUNS", "LAST RUN"])


def _task_path(project: str, task_id: str) -> str:
    return f"/api/projects/{project}/tasks/{task_id}"


@task.command("show")
@client_options
@click.argument("task_id")
@click.option("--project", help="Project id (needed if the task id is not unique).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON reply.")
def task_show(
    server: str, api_key: str | None, task_id: str, project: str | None, as_json: bool
) -> None:
    """Show a task and its runs."""
    params = {"project_id": project} if project else None
    data = ApiClient(server, api_key).request("GET", f"/api/v1/tasks/{task_id}", params=params)
    if as_json:
        _json_out(data)
        return
    click.echo(f"{data['project_id']}/{data['task_id']}: {data['status']}")
    if data.get("stop_reason"):
        click.echo(f"stop reason: {data['stop_reason']}")
    if data.get("budget"):
        click.echo(f"budget: {_budget_line(data['budget'])}")
    if data["waiting_for"]:
        click.echo(f"waiting for: {', '.join(data['waiting_for'])}")
    rows = [
        [r["run_id"], r["status"], str(r["exit_code"]), r["start_time"], r["end_time"] or "-"]
        for r in data["runs"]
    ]
    _table(rows, ["RUN", "STATUS", "EXIT", "STARTED", "ENDED"])


def _budget_line(budget: dict[str, Any]) -> str:
    """``$0.75 of $0.60, 4,500 tokens of 10,000 — exceeded``; ``none`` with the spending."""
    cost, tokens = budget.get("max_cost_usd"), budget.get("max_tokens")
    spent_cost = f"${budget.get('spent_cost_usd', 0):g}"
    spent_tokens = f"{budget.get('spent_tokens', 0):,} tokens"
    if not cost and not tokens:
        return f"none (spent {spent_cost}, {spent_tokens})"
    parts = [
        spent_cost + (f" of ${cost:g}" if cost else ""),
        spent_tokens + (f" of {tokens:,}" if tokens else ""),
    ]
    if budget.get("unknown_cost_runs"):
        parts.append(f"{budget['unknown_cost_runs']} run(s) of unknown cost counted as $0")
    return ", ".join(parts) + (" — exceeded" if budget.get("exceeded") else "")


@task.command("stop")
@client_options
@click.argument("task_id")
@click.option("--project", help="Project id (needed if the task id is not unique).")
def task_stop(server: str, api_key: str | None, task_id: str, project: str | None) -> None:
    """Stop a task: its loop does not restart; running runs are stopped."""
    params = {"project_id": project} if project else None
    data = ApiClient(server, api_key).request("DELETE", f"/api/v1/tasks/{task_id}", params=params)
    click.echo(f"{data['project_id']}/{data['task_id']}: {data['status']}")


@task.command("resume")
@client_options
@click.argument("task_id")
@click.option("--project", required=True, help="Project id.")
def task_resume(server: str, api_key: str | None, task_id: str, project: str) -> None:
    """Remove DONE and start the task's loop again."""
    client = ApiClient(server, api_key, timeout=60)
    data = client.request("POST", _task_path(project, task_id) + "/resume")
    click.echo(f"{data['project_id']}/{data['task_id']}: {data['status']} {data['run_id'] or ''}")


@task.command("delete")
@client_options
@click.argument("task_id")
@click.option("--project", required=True, help="Project id.")
def task_delete(server: str, api_key: str | None, task_id: str, project: str) -> None:
    """Delete a task and all its runs (it must not be running)."""
    data = ApiClient(server, api_key).request("DELETE", _task_path(project, task_id))
    click.echo(f"{data['project_id']}/{data['task_id']}: {data['status']}")


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
    client, created = _submit(server, api_key, max_restarts=0, **options)
    run_id = created.get("run_id")
    if not follow:
        click.echo(run_id or f"{created['project_id']}/{created['task_id']} {created['status']}")
        return
    if not run_id:
        _fail(f"the job has not started yet ({created['status']}); follow it later")
    sys.exit(follow_run(client, run_id, raw=raw))


def follow_run(client: ApiClient, run_id: str, *, raw: bool = False) -> int:
    """Print a run's output as it is written (rendered unless ``raw``); returns the
    run's exit code."""
    from conductor_loop.cli.transcript import TranscriptRenderer, colour_wanted

    renderer = None if raw else TranscriptRenderer(colour=colour_wanted(sys.stdout))
    exit_code = 1
    for event in client.events(f"/api/v1/runs/{run_id}/stream"):
        if event.event == "log" and isinstance(event.data, dict):
            line = str(event.data.get("line", ""))
            if event.data.get("stream") == "stderr":
                _write(sys.stderr, [line])
            else:
                _write(sys.stdout, [line] if renderer is None else renderer.feed(line))
        elif event.event == "done" and isinstance(event.data, dict):
            exit_code = int(event.data.get("exit_code", 1))
            if exit_code < 0 or exit_code > 255:
                exit_code = 1
            break
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


def _bus_path(project: str, task_id: str | None) -> str:
    base = f"/api/projects/{project}"
    return f"{base}/tasks/{task_id}/messages" if task_id else f"{base}/messages"


def _print_message(msg: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(msg, ensure_ascii=False))
        return
    scope = msg["project_id"] + (f"/{msg['task_id']}" if msg.get("task_id") else "")
    run = f" run={msg['run_id']}" if msg.get("run_id") else ""
    click.echo(f"{msg['ts']} {msg['type']} [{scope}]{run} {msg['msg_id']}")
    for line in msg.get("body", "").split("\n") if msg.get("body") else ():
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
    payload: dict[str, Any] = {"type": msg_type, "body": body}
    if run_id:
        payload["run_id"] = run_id
    data = ApiClient(server, api_key).request("POST", _bus_path(project, task_id), json=payload)
    click.echo(data["msg_id"])


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
    client = ApiClient(server, api_key)
    params = {k: v for k, v in (("tail", tail), ("before", before)) if v}
    path = _bus_path(project, task_id)
    try:
        if follow:
            for event in client.events(path + "/stream", params):
                if event.event == "message" and isinstance(event.data, dict):
                    _print_message(event.data, as_json)
            return
        for msg in client.request("GET", path, params=params)["messages"]:
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
    data = ApiClient(server, api_key).request("GET", "/api/projects")
    if as_json:
        _json_out(data)
        return
    rows = [
        [
            p["project_id"],
            str(p["task_count"]),
            str(p["run_count"]),
            str(p["running_runs"]),
            p["last_activity"] or "-",
        ]
        for p in data["projects"]
    ]
    _table(rows, ["PROJECT", "TASKS", "RUNS", "RUNNING", "LAST ACTIVITY"])


@project.command("stats")
@client_options
@click.argument("project_id")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON reply.")
def project_stats(server: str, api_key: str | None, project_id: str, as_json: bool) -> None:
    """Task and run counts by status for one project."""
    data = ApiClient(server, api_key).request("GET", f"/api/projects/{project_id}/stats")
    if as_json:
        _json_out(data)
        return
    click.echo(
        f"project {data['project_id']}: {data['task_count']} tasks, {data['run_count']} runs"
    )
    for kind in ("tasks_by_status", "runs_by_status"):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(data[kind].items())) or "none"
        click.echo(f"  {kind.replace('_', ' ')}: {counts}")
    click.echo(f"  message bus: {data['bus_bytes']} bytes")
