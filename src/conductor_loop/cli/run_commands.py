"""``run-agent job`` and ``run-agent task``: start agent runs and the Ralph loop."""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from conductor_loop.cli.common import (
    DURATION,
    F,
    complete_project,
    complete_task,
    note,
    prompt_from_options,
    reports_errors,
    root_and_config_options,
)
from conductor_loop.cli.context import load, stop_on_signals

if TYPE_CHECKING:
    from conductor_loop.cli.follow import RunFollower
    from conductor_loop.config import Config
    from conductor_loop.orchestration.orchestrator import TaskRequest
    from conductor_loop.runner.task_loop import TaskSettings
    from conductor_loop.storage.layout import RunsRoot
    from conductor_loop.storage.runinfo import RunInfo


def _output_options(follow_help: str) -> Callable[[F], F]:
    """``-f``/``--follow``, ``--raw`` and ``--json``, which `job` and `task` both take."""
    options = [
        click.option("-f", "--follow", is_flag=True, help=follow_help),
        click.option(
            "--raw",
            is_flag=True,
            help="With --follow: print the agent's output as it is (JSON lines), not rendered.",
        ),
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            help="At the end, print one JSON object describing the outcome (ids, status, "
            "exit code, usage) instead of the id.",
        ),
    ]

    def apply(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


def _run_json(info: RunInfo) -> dict[str, Any]:
    """A run as ``--json`` shows it."""
    return {
        "run_id": info.run_id,
        "project_id": info.project_id,
        "task_id": info.task_id,
        "agent": info.agent,
        "status": info.status,
        "exit_code": info.exit_code,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "output_path": info.output_path,
        "stdout_path": info.stdout_path,
        "error_summary": info.error_summary,
        "usage": info.usage.figures() if info.usage is not None else None,
    }


def _echo_json(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, indent=None, sort_keys=False))


def _agent_and_prompt_options(what: str, where: str = "") -> Callable[[F], F]:
    """``--agent``, ``--prompt``, ``--prompt-file`` and ``--cwd``, which `job` and `task`
    both take; ``what`` names the prompt in the help text."""
    options = [
        click.option("--agent", help="Agent name from config (default: defaults.agent)."),
        click.option("--prompt", help=f"{what.capitalize()} text {where}".rstrip() + "."),
        click.option(
            "--prompt-file",
            type=click.Path(dir_okay=False, path_type=Path),
            help=f"Read the {what} from a file.",
        ),
        click.option(
            "--cwd",
            type=click.Path(file_okay=False, path_type=Path),
            help="Working directory of the agent.",
        ),
    ]

    def apply(func: F) -> F:
        for option in reversed(options):  # listed in --help in the order above
            func = option(func)
        return func

    return apply


@click.command()
@root_and_config_options
@click.option(
    "--project",
    envvar="JRUN_PROJECT_ID",
    shell_complete=complete_project,
    required=True,
    help="Project id (default: $JRUN_PROJECT_ID).",
)
@click.option(
    "--task",
    envvar="JRUN_TASK_ID",
    required=True,
    shell_complete=complete_task,
    help="Task id (default: $JRUN_TASK_ID).",
)
@_agent_and_prompt_options("prompt")
@click.option(
    "--parent-run-id",
    envvar="JRUN_ID",
    default="",
    help="Parent run (default: $JRUN_ID, so a run's jobs are its children).",
)
@click.option("--previous-run-id", default="", help="Previous run in the same loop.")
@click.option("--timeout", type=DURATION, help="Run timeout (e.g. 30s, 5m; 0 = none).")
@_output_options("Print the agent's transcript while it runs (readable; --raw: as is).")
@reports_errors
def job(
    root: str | None,
    config_path: str | None,
    project: str,
    task: str,
    agent: str | None,
    prompt: str | None,
    prompt_file: Path | None,
    cwd: Path | None,
    parent_run_id: str,
    previous_run_id: str,
    timeout: float | None,
    follow: bool,
    raw: bool,
    as_json: bool,
) -> None:
    """Run one agent once (no restarts).

    Prints the run id at the end (--json: the run as a JSON object); progress goes
    to stderr.

    \b
    Exit status:
      N    the agent's exit code (128+S if it was killed by signal S)
      124  the runner ended the run at its timeout, whatever the agent returned
      143  the run was stopped (or the runner shut down), whatever the agent returned
      2    a bad option, prompt or config (no run was started)
      74   the runs root could not be written (disk full or read-only)

    An agent can exit 2 or 74 itself: a runner error prints an "error: ..." line and
    no "run ... (exit N)" line; run-info.yaml records the agent's exit_code.
    """
    from conductor_loop.runner.job import JobRunner, JobSpec
    from conductor_loop.storage.runinfo import read_run_info

    text = prompt_from_options(prompt, prompt_file, read_stdin=True) or ""
    runs_root, config = load(root, config_path)
    stop, shutdown = stop_on_signals()
    followers: list[RunFollower] = []

    def on_start(info: RunInfo) -> None:
        note(f"run {info.run_id} started ({info.agent}) in {Path(info.stdout_path).parent}")
        if follow:
            from conductor_loop.cli.follow import RunFollower

            followers.append(RunFollower(Path(info.stdout_path), raw=raw))

    runner = JobRunner(runs_root, config, stop=stop, shutdown=shutdown, on_start=on_start)
    try:
        result = runner.run(
            JobSpec(
                project_id=project,
                task_id=task,
                prompt=text,
                agent=agent,
                cwd=cwd,
                parent_run_id=parent_run_id,
                previous_run_id=previous_run_id,
                timeout=timeout,
            )
        )
    finally:
        for follower in followers:
            follower.stop()
    summary = f" — {result.error_summary}" if result.error_summary else ""
    note(f"run {result.run_id} {result.status} (exit {result.exit_code}){summary}")
    if as_json:
        try:
            _echo_json(_run_json(read_run_info(result.run_dir)))
        except (OSError, ValueError):  # run-info unreadable (disk trouble): what we know
            _echo_json(
                {
                    "run_id": result.run_id,
                    "project_id": project,
                    "task_id": task,
                    "status": result.status,
                    "exit_code": result.exit_code,
                    "error_summary": result.error_summary,
                }
            )
    elif not follow:
        click.echo(result.run_id)
    sys.exit(result.exit_code)


def _finite(_ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number", param=param)
    return value


def _budget_options(func: F) -> F:
    """``--max-cost``, ``--max-tokens`` and ``--budget-action``: the task's own budget."""
    from conductor_loop.runner.budget import BUDGET_ACTIONS

    options = [
        click.option(
            "--max-cost",
            type=click.FloatRange(min=0),
            callback=_finite,
            help="Budget in USD over all the task's runs (default: defaults.max_cost_usd; "
            "0 = none).",
        ),
        click.option(
            "--max-tokens",
            type=click.IntRange(min=0),
            help="Budget in input + output tokens (default: defaults.max_tokens; 0 = none).",
        ),
        click.option(
            "--budget-action",
            type=click.Choice(BUDGET_ACTIONS),
            help="When the budget is reached: let running runs finish (finish_run), or stop "
            "them (stop_run). Default: defaults.budget_action.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _task_options(func: F) -> F:
    func = click.option(
        "--task", "task", required=True, shell_complete=complete_task, help="Task id."
    )(func)
    func = click.option(
        "--project", "project", required=True, shell_complete=complete_project, help="Project id."
    )(func)
    return root_and_config_options(func)


@click.group(invoke_without_command=True)
@root_and_config_options
@click.option("--project", shell_complete=complete_project, help="Project id.")
@click.option(
    "--task",
    "task_id",
    shell_complete=complete_task,
    help="Task id (default: generated from the prompt).",
)
@_agent_and_prompt_options("task prompt", "(written to TASK.md)")
@click.option(
    "--max-restarts",
    type=click.IntRange(min=0),
    help="Restarts allowed (default: defaults.max_restarts).",
)
@click.option("--restart-delay", type=DURATION, help="Pause between iterations (default 1s).")
@click.option(
    "--child-wait-timeout",
    type=DURATION,
    help="How long to wait for child runs after DONE (default 300s).",
)
@click.option(
    "--child-poll-interval", type=DURATION, help="How often to check child runs (default 1s)."
)
@click.option("--depends-on", multiple=True, help="Task that must be DONE first (repeatable).")
@click.option("--timeout", type=DURATION, help="Timeout of each run (0 = none).")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an existing task as it is (its TASK.md; DONE is removed).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Run an existing task again, with --prompt/--prompt-file replacing its TASK.md.",
)
@_budget_options
@click.option(
    "--adopt",
    is_flag=True,
    help="Take over a loop whose runner died (its saved settings apply); no-op otherwise.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Where the loop runs: in this process (local), or on the Ray cluster the config's "
    "executor section names (ray: submits the loop, prints its first run, and returns).",
)
@_output_options("Print each run's transcript in turn until the loop ends (--raw: as is).")
@click.pass_context
@reports_errors
def task(
    ctx: click.Context,
    root: str | None,
    config_path: str | None,
    project: str | None,
    task_id: str | None,
    agent: str | None,
    prompt: str | None,
    prompt_file: Path | None,
    cwd: Path | None,
    max_restarts: int | None,
    restart_delay: float | None,
    child_wait_timeout: float | None,
    child_poll_interval: float | None,
    depends_on: tuple[str, ...],
    timeout: float | None,
    resume: bool,
    force: bool,
    max_cost: float | None,
    max_tokens: int | None,
    budget_action: str | None,
    adopt: bool,
    executor: str,
    follow: bool,
    raw: bool,
    as_json: bool,
) -> None:
    """Run a task in the Ralph loop until it is DONE.

    Subcommands: resume, delete. A task that exists already (it has a TASK.md, runs
    or DONE) is not run again unless asked: --resume continues it, --force replaces
    its prompt. Prints the task id at the end (--json: the task and its runs as a
    JSON object); progress goes to stderr.

    With --executor ray the loop is submitted to the Ray cluster instead (a detached
    actor on a node with agent slots) and the command returns once its first run has
    started: it prints the task id (--json: the task's status and first run).

    \b
    Exit status: 0 completed (ray: submitted), 1 failed or stopped, 3 stopped by its
    budget (the reason is printed), 2 a bad request or config, 74 the runs root could not
    be written.
    """
    if ctx.invoked_subcommand is not None:
        return
    from conductor_loop.orchestration.queue import waiting_on_disk
    from conductor_loop.orchestration.rules import check_agent, check_cycle, new_task
    from conductor_loop.runner.task_loop import TaskSettings

    if not project:
        raise click.UsageError("--project is required")
    text = prompt_from_options(prompt, prompt_file, read_stdin=False)
    if resume and force:
        raise click.UsageError("give --resume or --force, not both")
    if resume and text is not None:
        raise click.UsageError("--resume keeps the task's TASK.md: use --force to replace it")
    if executor == "ray":
        refused = [
            flag
            for flag, given in (
                ("--force", force),
                ("--adopt", adopt),
                ("--follow", follow),
                ("--child-wait-timeout", child_wait_timeout is not None),
                ("--child-poll-interval", child_poll_interval is not None),
            )
            if given
        ]
        if refused:
            raise click.UsageError(f"{', '.join(refused)} cannot be used with --executor ray")
    spec = new_task(project, task_id, text, depends_on)
    task_id = spec.task_id
    runs_root, config = load(root, config_path)
    if executor == "ray":
        from conductor_loop.orchestration.orchestrator import TaskRequest

        request = TaskRequest(
            project_id=project,
            prompt=text or "",
            task_id=task_id,
            agent=agent,
            depends_on=spec.depends_on,
            max_restarts=max_restarts,
            restart_delay=restart_delay,
            timeout=timeout,
            cwd=str(cwd.resolve()) if cwd is not None else None,
            max_cost_usd=max_cost,
            max_tokens=max_tokens,
            budget_action=budget_action,
        )
        _submit_to_ray(runs_root, config, request, resume=resume, as_json=as_json)
        return
    if not adopt:  # an adopted loop runs with the settings it was started with
        check_agent(config, agent)
        check_cycle(task_id, spec.depends_on, waiting_on_disk(runs_root, project))
    settings = TaskSettings(
        agent=agent,
        cwd=cwd,
        max_restarts=max_restarts,
        restart_delay=restart_delay,
        child_wait_timeout=child_wait_timeout,
        child_poll_interval=child_poll_interval,
        timeout=timeout,
        depends_on=spec.depends_on,
        resume=resume,
        max_cost_usd=max_cost,
        max_tokens=max_tokens,
        budget_action=budget_action,
    )
    _run_loop(
        runs_root,
        config,
        project,
        task_id,
        settings,
        text,
        adopt=adopt,
        reopen=resume,
        replace=force,
        output=_Output(follow=follow, raw=raw, as_json=as_json),
    )


def _submit_to_ray(
    runs_root: RunsRoot, config: Config, request: TaskRequest, *, resume: bool, as_json: bool
) -> None:
    """``task --executor ray``: the server's way of starting a loop (the same admission,
    queue and ``depends_on`` rules), with the config's Ray executor. A task that has to
    wait is queued on disk, and a server's sweep starts it."""
    import dataclasses

    from conductor_loop.errors import InvalidRequestError, NotFoundError
    from conductor_loop.orchestration.index import Index
    from conductor_loop.orchestration.orchestrator import Orchestrator, loop_active

    if not resume and not request.prompt:
        raise InvalidRequestError("give --prompt or --prompt-file (or --resume)")
    ray_config = dataclasses.replace(
        config, executor=dataclasses.replace(config.executor, type="ray")
    )
    index = Index(runs_root, loop_probe=loop_active)
    index.build()
    orchestrator = Orchestrator(runs_root, ray_config, index, config_path=config.source)
    if resume:
        entry = index.task(request.project_id, request.task_id or "")
        if entry is None:
            raise NotFoundError(f"task {request.project_id}/{request.task_id} not found")
        started = orchestrator.resume(entry)
    else:
        started = orchestrator.create(request)
    where = f"run {started.run_id}" if started.run_id else started.status
    if started.queue_position is not None:
        where += f" at position {started.queue_position}"
    note(f"task {started.project_id}/{started.task_id}: submitted to Ray ({where})")
    if as_json:
        _echo_json(
            {
                "project_id": started.project_id,
                "task_id": started.task_id,
                "status": started.status,
                "run_id": started.run_id,
                "queue_position": started.queue_position,
                "executor": "ray",
            }
        )
    else:
        click.echo(started.task_id)


@dataclass(frozen=True, slots=True)
class _Output:
    """What `task` prints on stdout: transcripts (--follow, --raw), and the id or JSON."""

    follow: bool = False
    raw: bool = False
    as_json: bool = False


class _LoopFollower:
    """Follows the loop's runs one after the other, each under a header line."""

    def __init__(self, runs_root: RunsRoot, raw: bool) -> None:
        self.runs_root = runs_root
        self.raw = raw
        self.current: RunFollower | None = None
        self.count = 0

    def on_run_start(self, info: RunInfo) -> None:
        from conductor_loop.cli.follow import RunFollower, print_line

        self.stop()  # the previous run has ended: its summary first
        self.count += 1
        run_ids = self.runs_root.run_ids(info.project_id, info.task_id)
        number = run_ids.index(info.run_id) + 1 if info.run_id in run_ids else self.count
        print_line(f"── run {number} ({info.run_id}) ──")
        self.current = RunFollower(Path(info.stdout_path), raw=self.raw)

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None


def _run_loop(
    runs_root: RunsRoot,
    config: Config,
    project: str,
    task_id: str,
    settings: TaskSettings,
    text: str | None,
    *,
    adopt: bool = False,
    reopen: bool = False,
    replace: bool = False,
    output: _Output = _Output(),
) -> None:
    from conductor_loop.orchestration.rules import HINT_CLI, check_admission
    from conductor_loop.runner.budget import EXIT_BUDGET
    from conductor_loop.runner.task_loop import STOPPED_BY_BUDGET, TaskLoop

    follower = _LoopFollower(runs_root, output.raw) if output.follow else None

    def on_run_start(info: RunInfo) -> None:
        note(f"run {info.run_id} started ({info.agent})")
        if follower is not None:
            follower.on_run_start(info)

    stop, shutdown = stop_on_signals()
    loop = TaskLoop(
        runs_root,
        config,
        project,
        task_id,
        settings,
        stop=stop,
        shutdown=shutdown,
        on_run_start=on_run_start,
        on_loop_start=lambda: note(f"task {project}/{task_id}: loop started (pid {os.getpid()})"),
    )
    try:
        if adopt:
            from conductor_loop.errors import ConflictError

            try:
                outcome = loop.run(text, admit=None, adopt=True)
            except ConflictError as exc:
                note(f"task {project}/{task_id}: not adopted — {exc.message}")
                if output.as_json:
                    _echo_json(
                        {
                            "project_id": project,
                            "task_id": task_id,
                            "status": "not adopted",
                            "message": exc.message,
                            "runs": [],
                        }
                    )
                sys.exit(0)  # another process owns the loop: exactly what adoption wants
        else:
            outcome = loop.run(
                text,
                admit=functools.partial(
                    check_admission,
                    runs_root,
                    project,
                    task_id,
                    prompt=text is not None,
                    reopen=reopen,
                    replace=replace,
                    hint=HINT_CLI,
                ),
                reopen=reopen,
                replace=replace,
            )
    finally:
        if follower is not None:
            follower.stop()
    note(
        f"task {project}/{task_id}: {outcome.status} — {outcome.message} "
        f"({len(outcome.runs)} run(s))"
    )
    if output.as_json:
        from conductor_loop.storage.runinfo import read_run_info
        from conductor_loop.storage.usage import total_figures

        runs = [read_run_info(run.run_dir) for run in outcome.runs]
        _echo_json(
            {
                "project_id": project,
                "task_id": task_id,
                "status": outcome.status,
                "message": outcome.message,
                "runs": [_run_json(info) for info in runs],
                "usage": total_figures(info.usage for info in runs),
            }
        )
    elif not output.follow:
        click.echo(task_id)
    if outcome.stopped_by == STOPPED_BY_BUDGET:
        sys.exit(EXIT_BUDGET)
    sys.exit(0 if outcome.status in ("completed", "skipped") else 1)


@task.command("resume")
@_task_options
@click.option("--agent", help="Agent name from config.")
@_budget_options
@reports_errors
def task_resume(
    root: str | None,
    config_path: str | None,
    project: str,
    task: str,
    agent: str | None,
    max_cost: float | None,
    max_tokens: int | None,
    budget_action: str | None,
) -> None:
    """Run the task's loop again, continuing from its last run.

    Removes DONE first and keeps the task's budget unless given another one.
    `run-agent task --resume` does the same and takes the loop options
    (--max-restarts, --timeout, ...).
    """
    from conductor_loop.orchestration.rules import check_agent
    from conductor_loop.runner.task_loop import TaskSettings, resume_task

    runs_root, config = load(root, config_path)
    resume_task(runs_root, project, task)
    check_agent(config, agent)
    settings = TaskSettings(
        agent=agent,
        resume=True,
        max_cost_usd=max_cost,
        max_tokens=max_tokens,
        budget_action=budget_action,
    )
    _run_loop(runs_root, config, project, task, settings, None, reopen=True)


@task.command("delete")
@_task_options
@click.option("--force", is_flag=True, help="Stop the task first if it is running.")
@reports_errors
def task_delete(
    root: str | None, config_path: str | None, project: str, task: str, force: bool
) -> None:
    """Delete a task and all its runs.

    Refuses while the task runs, unless --force.
    """
    from conductor_loop.runner.control import delete_task

    runs_root, config = load(root, config_path)
    delete_task(runs_root, config, project, task, force=force)
    click.echo(f"deleted task {project}/{task}")
