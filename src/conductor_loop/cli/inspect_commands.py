"""``run-agent list|status|output``: look at projects, tasks and runs on disk."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import click

from conductor_loop.cli.common import (
    F,
    complete_project,
    complete_task,
    reports_errors,
    root_and_config_options,
)
from conductor_loop.cli.context import load
from conductor_loop.errors import NotFoundError
from conductor_loop.storage.layout import (
    DONE_FILE,
    OUTPUT_FILE,
    PROMPT_FILE,
    STDERR_FILE,
    STDOUT_FILE,
    RunsRoot,
)
from conductor_loop.storage.usage import Usage, total, total_figures

_FILES = {
    "output": OUTPUT_FILE,
    "stdout": STDOUT_FILE,
    "stderr": STDERR_FILE,
    "prompt": PROMPT_FILE,
}


def _duration(info: Any) -> str:
    from conductor_loop.runner.liveness import parse_iso

    start = parse_iso(info.start_time)
    end = parse_iso(info.end_time)
    if start is None:
        return ""
    import time

    seconds = (end or time.time()) - start
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def _count(tokens: int | None) -> str:
    if tokens is None:
        return "?"
    if tokens < 1000:
        return str(tokens)
    if tokens < 1_000_000:
        return f"{tokens / 1000:.1f}k"
    return f"{tokens / 1_000_000:.1f}M"


def _tokens(usage: Usage | None) -> str:
    """``in/out`` tokens, short (``1.2k/50``); ``-`` when neither is known."""
    if usage is None or (usage.input_tokens is None and usage.output_tokens is None):
        return "-"
    return f"{_count(usage.input_tokens)}/{_count(usage.output_tokens)}"


def _cost(usage: Usage | None) -> str:
    if usage is None or usage.cost_usd is None:
        return "-"
    cost = usage.cost_usd
    return f"${cost:.2f}" if cost >= 1 else f"${cost:.4f}"


def _usage_line(usage: Usage) -> str:
    """E.g. ``1,200 input tokens (1,000 cached), 50 output, $0.0123``."""
    parts = []
    if usage.input_tokens is not None:
        cached = usage.cached_input_tokens
        parts.append(
            f"{usage.input_tokens:,} input tokens"
            + (f" ({cached:,} cached)" if cached is not None else "")
        )
    if usage.output_tokens is not None:
        parts.append(f"{usage.output_tokens:,} output")
    if usage.cost_usd is not None:
        parts.append(_cost(usage))
    return ", ".join(parts)


def _table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@click.command("list")
@root_and_config_options
@click.option(
    "--project",
    shell_complete=complete_project,
    help="Only this project (lists its tasks, or runs with --task).",
)
@click.option("--task", shell_complete=complete_task, help="Only this task (lists its runs).")
@click.option("--status", "status_filter", help="Only runs with this status.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@reports_errors
def list_command(
    root: str | None,
    config_path: str | None,
    project: str | None,
    task: str | None,
    status_filter: str | None,
    as_json: bool,
) -> None:
    """List projects, a project's tasks, or a task's runs."""
    from conductor_loop.runner.task_loop import task_loop_active, task_runs

    runs_root, _config = load(root, config_path)
    if task is not None and project is None:
        raise click.UsageError("--task needs --project")
    if project is None:
        rows: list[dict[str, Any]] = []
        for project_id in runs_root.project_ids():
            tasks = runs_root.task_ids(project_id)
            rows.append({"project_id": project_id, "tasks": len(tasks)})
        if as_json:
            click.echo(json.dumps(rows))
        else:
            _table([[r["project_id"], str(r["tasks"])] for r in rows], ["project", "tasks"])
        return
    if task is not None:
        runs_root.existing_task_dir(project, task)
    else:
        runs_root.existing_project_dir(project)
    task_ids = [task] if task is not None else runs_root.task_ids(project)
    if task is None and status_filter is None:
        task_rows: list[dict[str, Any]] = []
        totals: dict[str, Usage] = {}
        for task_id in task_ids:
            infos = task_runs(runs_root.runs_dir(project, task_id))
            totals[task_id] = total(i.usage for i in infos)
            task_dir = runs_root.task_dir(project, task_id)
            task_rows.append(
                {
                    "task_id": task_id,
                    "done": (task_dir / DONE_FILE).exists(),
                    "loop_active": task_loop_active(task_dir),
                    "runs": len(infos),
                    "last_status": infos[-1].status if infos else "",
                    "last_run_id": infos[-1].run_id if infos else "",
                    "usage": total_figures(i.usage for i in infos),
                }
            )
        if as_json:
            click.echo(json.dumps(task_rows))
        else:
            _table(
                [
                    [
                        t["task_id"],
                        "yes" if t["done"] else "no",
                        "yes" if t["loop_active"] else "no",
                        str(t["runs"]),
                        t["last_status"],
                        t["last_run_id"],
                        _tokens(totals[t["task_id"]]),
                        _cost(totals[t["task_id"]]),
                    ]
                    for t in task_rows
                ],
                ["task", "done", "active", "runs", "last status", "last run", "tokens", "cost"],
            )
        return
    run_rows = []
    for task_id in task_ids:
        for info in task_runs(runs_root.runs_dir(project, task_id)):
            if status_filter and info.status != status_filter:
                continue
            run_rows.append(info)
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in run_rows]))
        return
    _table(
        [
            [
                i.run_id,
                i.task_id,
                i.status,
                str(i.exit_code),
                i.agent,
                _duration(i),
                i.parent_run_id or "-",
                i.previous_run_id or "-",
                _tokens(i.usage),
                _cost(i.usage),
            ]
            for i in run_rows
        ],
        [
            "run",
            "task",
            "status",
            "exit",
            "agent",
            "duration",
            "parent",
            "previous",
            "tokens",
            "cost",
        ],
    )


def _run_dir_from(
    runs_root: RunsRoot,
    project: str | None,
    task: str | None,
    run: str | None,
    run_dir: Path | None,
) -> Path:
    from conductor_loop.runner.control import find_run_dir
    from conductor_loop.runner.task_loop import task_runs

    if run_dir is not None:
        return run_dir.absolute()
    if project and task:
        runs_root.existing_task_dir(project, task)
    elif project:
        runs_root.existing_project_dir(project)
    if run:
        return find_run_dir(runs_root, run, project_id=project, task_id=task)
    if project and task:
        infos = task_runs(runs_root.runs_dir(project, task))
        if not infos:
            raise NotFoundError(f"task {project}/{task} has no runs")
        return runs_root.run_dir(project, task, infos[-1].run_id)
    raise click.UsageError(
        "identify the run: --run (with optional --project/--task), "
        "--project and --task (latest run), or --run-dir"
    )


def _run_selector(func: F) -> F:
    func = click.option(
        "--run-dir", type=click.Path(file_okay=False, path_type=Path), help="Run directory."
    )(func)
    func = click.option("--run", help="Run id.")(func)
    func = click.option("--task", shell_complete=complete_task, help="Task id.")(func)
    func = click.option("--project", shell_complete=complete_project, help="Project id.")(func)
    return root_and_config_options(func)


# Summary order: what needs attention first.
_TASK_ORDER = ("running", "queued", "failed", "stopped", "completed", "idle")
_RUN_ORDER = ("running", "failed", "stopped", "completed")


def _ordered(counts: dict[str, int], order: tuple[str, ...]) -> dict[str, int]:
    known = [s for s in order if counts.get(s)]
    return {s: counts[s] for s in [*known, *sorted(set(counts) - set(known))]}


def _counts_line(what: str, counts: dict[str, int]) -> str:
    parts = [f"{n} {status}" for status, n in counts.items()]
    return f"{what}: {', '.join(parts) if parts else 'none'}"


def _task_summary(runs_root: RunsRoot, project_id: str, task_id: str) -> dict[str, Any]:
    """A task's status as the API reports it (queued, running, completed, failed,
    stopped or idle), its runs, and its latest root run (full run-info)."""
    from conductor_loop.orchestration.index import QUEUED_FILE
    from conductor_loop.runner.task_loop import task_loop_active, task_runs
    from conductor_loop.storage.runinfo import STATUS_RUNNING

    task_dir = runs_root.task_dir(project_id, task_id)
    infos = task_runs(runs_root.runs_dir(project_id, task_id))
    roots = [i for i in infos if not i.parent_run_id] or infos
    last = roots[-1] if roots else None
    if (task_dir / QUEUED_FILE).exists():
        state = "queued"
    elif any(i.status == STATUS_RUNNING for i in infos) or task_loop_active(task_dir):
        state = "running"
    elif (task_dir / DONE_FILE).exists():
        state = "completed"
    else:
        state = last.status if last else "idle"
    return {
        "project_id": project_id,
        "task_id": task_id,
        "status": state,
        "runs": len(infos),
        "runs_by_status": {
            s: sum(1 for i in infos if i.status == s) for s in {i.status for i in infos}
        },
        "last_run": last.to_dict() if last else None,
        "elapsed": _duration(last) if last else "",
    }


def _overview(runs_root: RunsRoot, project: str | None, as_json: bool) -> None:
    projects = [project] if project else runs_root.project_ids()
    tasks = [_task_summary(runs_root, p, t) for p in projects for t in runs_root.task_ids(p)]
    rank = {s: i for i, s in enumerate(_TASK_ORDER)}
    tasks.sort(key=lambda t: (rank.get(t["status"], len(rank)), t["project_id"], t["task_id"]))
    task_counts: dict[str, int] = {}
    run_counts: dict[str, int] = {}
    for t in tasks:
        task_counts[t["status"]] = task_counts.get(t["status"], 0) + 1
        for status, n in t.pop("runs_by_status").items():
            run_counts[status] = run_counts.get(status, 0) + n
    task_counts = _ordered(task_counts, _TASK_ORDER)
    run_counts = _ordered(run_counts, _RUN_ORDER)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "runs_root": str(runs_root.path),
                    "tasks_by_status": task_counts,
                    "runs_by_status": run_counts,
                    "tasks": [{k: v for k, v in t.items() if k != "elapsed"} for t in tasks],
                }
            )
        )
        return
    click.echo(_counts_line("tasks", task_counts))
    click.echo(_counts_line("runs", run_counts))
    if not tasks:
        return
    click.echo()
    _table(
        [
            [
                t["project_id"],
                t["task_id"],
                t["status"],
                str(t["runs"]),
                t["last_run"]["run_id"] if t["last_run"] else "-",
                t["elapsed"] or "-",
            ]
            for t in tasks
        ],
        ["project", "task", "status", "runs", "last run", "elapsed"],
    )


def _run_summary(info: Any) -> None:
    """A few readable lines about one run."""
    from conductor_loop.storage.runinfo import STATUS_RUNNING

    elapsed = _duration(info)
    if info.status == STATUS_RUNNING:
        state = f"running for {elapsed}" if elapsed else "running"
    else:
        state = f"{info.status}, exit {info.exit_code}" + (f", after {elapsed}" if elapsed else "")
    lines = [
        ("run", f"{info.run_id}  {info.project_id}/{info.task_id}  ({info.agent or '?'})"),
        ("status", state),
        ("started", info.start_time or "-"),
        ("previous", info.previous_run_id),
        ("parent", info.parent_run_id),
        ("error", info.error_summary),
        ("usage", _usage_line(info.usage) if info.usage is not None else ""),
        ("output", info.output_path),
    ]
    for label, value in lines:
        if value:
            click.echo(f"{label:<9}{value}")


@click.command()
@_run_selector
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Full data: the run's run-info, or every task's status and latest run-info.",
)
@reports_errors
def status(
    root: str | None,
    config_path: str | None,
    project: str | None,
    task: str | None,
    run: str | None,
    run_dir: Path | None,
    as_json: bool,
) -> None:
    """Summarise tasks and runs: counts by status, and how long.

    Without a run selected: every task (of --project) with its status, its runs and
    the elapsed time of its latest run, those that need attention first. With --run,
    --run-dir or --project and --task: that run (the task's latest).
    """
    from conductor_loop.runner.control import read_info_or_none

    runs_root, _config = load(root, config_path)
    if run is None and run_dir is None and task is None:
        if project is not None:
            runs_root.existing_project_dir(project)
        _overview(runs_root, project, as_json)
        return
    directory = _run_dir_from(runs_root, project, task, run, run_dir)
    info = read_info_or_none(directory)
    if info is None:
        raise NotFoundError(f"no readable run-info.yaml in {directory}")
    if as_json:
        click.echo(json.dumps(info.to_dict()))
        return
    _run_summary(info)


@click.command()
@_run_selector
@click.option(
    "--file",
    "which",
    type=click.Choice(sorted(_FILES)),
    default="output",
    show_default=True,
    help="Which file: output.md, the agent's stdout or stderr, or the prompt.",
)
@click.option(
    "--tail", type=click.IntRange(min=0), default=0, help="Only the last N lines (0 = all)."
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the run ends.")
@reports_errors
def output(
    root: str | None,
    config_path: str | None,
    project: str | None,
    task: str | None,
    run: str | None,
    run_dir: Path | None,
    which: str,
    tail: int,
    follow: bool,
) -> None:
    """Print a run's output.md, agent stdout/stderr or prompt."""
    from conductor_loop.runner.control import read_info_or_none
    from conductor_loop.storage.containment import opener
    from conductor_loop.storage.runinfo import STATUS_RUNNING
    from conductor_loop.storage.tail import follow_bytes, last_lines

    runs_root, _config = load(root, config_path)
    directory = _run_dir_from(runs_root, project, task, run, run_dir)
    # While a run is active its output.md may not exist yet: follow stdout instead.
    info = read_info_or_none(directory)
    running = info is not None and info.status == STATUS_RUNNING
    path = directory / _FILES[which]
    if follow and running and which == "output" and not path.exists():
        path = directory / STDOUT_FILE
    out = sys.stdout.buffer
    inside = runs_root.path if runs_root.path in directory.parents else None
    if not follow or not running:
        try:
            out.write(last_lines(path, tail, inside))
        except FileNotFoundError:
            raise NotFoundError(f"{path.name} does not exist in {directory}") from None
        out.flush()
        return
    stop = threading.Event()

    def watch_run() -> None:
        from conductor_loop.runner.control import wait_finished

        wait_finished(directory, float("inf"), interval=0.2)
        stop.set()

    threading.Thread(target=watch_run, daemon=True).start()
    offset = 0
    if tail:
        with open(path, "rb", opener=None if inside is None else opener(inside)) as handle:
            handle.seek(0, 2)
            offset = handle.tell()
        out.write(last_lines(path, tail, inside))
    try:
        for chunk in follow_bytes(path, stop, offset=offset, safety_interval=0.5, root=inside):
            out.write(chunk)
            out.flush()
    except KeyboardInterrupt:
        pass
