"""``run-agent stop|resume|validate|gc``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from conductor_loop.cli.common import (
    DURATION,
    complete_project,
    complete_task,
    reports_errors,
    root_and_config_options,
)
from conductor_loop.cli.context import load
from conductor_loop.cli.inspect_commands import _run_dir_from, _run_selector


@click.command()
@_run_selector
@click.option("--force", is_flag=True, help="SIGKILL at once instead of after the grace period.")
@click.option("--no-wait", is_flag=True, help="Return once the stop is requested.")
@reports_errors
def stop(
    root: str | None,
    config_path: str | None,
    project: str | None,
    task: str | None,
    run: str | None,
    run_dir: Path | None,
    force: bool,
    no_wait: bool,
) -> None:
    """Stop a run, or a whole task with its loop and runs.

    With only --project and --task, the whole task; with --run or --run-dir, one run.
    """
    from conductor_loop.runner.control import stop_run, stop_task

    runs_root, config = load(root, config_path)
    if project and task and not run and run_dir is None:
        infos = stop_task(runs_root, config, project, task, force=force, wait=not no_wait)
        click.echo(
            f"task {project}/{task}: stop requested"
            + (f"; {len(infos)} run(s) ended" if infos else "")
        )
        for info in infos:
            click.echo(f"run {info.run_id}: {info.status}")
        return
    directory = _run_dir_from(runs_root, project, task, run, run_dir)
    info = stop_run(directory, config, force=force, wait=not no_wait)
    click.echo(f"run {info.run_id}: {info.status}")
    if not no_wait and info.status == "running":
        sys.exit(1)


@click.command()
@root_and_config_options
@click.option("--project", required=True, shell_complete=complete_project, help="Project id.")
@click.option("--task", required=True, shell_complete=complete_task, help="Task id.")
@click.option("--agent", help="Agent name from config.")
@click.pass_context
def resume(
    ctx: click.Context,
    root: str | None,
    config_path: str | None,
    project: str,
    task: str,
    agent: str | None,
) -> None:
    """Run a task's loop again, continuing from its last run.

    Removes DONE first. The same as `run-agent task resume`.
    """
    from conductor_loop.cli.run_commands import task_resume

    ctx.invoke(
        task_resume, root=root, config_path=config_path, project=project, task=task, agent=agent
    )


@click.command()
@root_and_config_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@reports_errors
def validate(root: str | None, config_path: str | None, as_json: bool) -> None:
    """Check that each configured agent can run on this machine.

    Reports, for each agent, whether its executable answers and it has a login or a
    token, and why not; each line names the agent's endpoint (its base_url, or the CLI's
    default). A CLI agent without a token uses the CLI's own login, which is fine. The
    config file itself is checked by `run-agent config validate`.
    """
    from conductor_loop.agents.registry import usable

    _runs_root, config = load(root, config_path)
    results = []
    for name, agent in sorted(config.agents.items()):
        verdict = usable(name, agent)
        results.append(
            {
                "agent": name,
                "type": agent.type,
                "usable": verdict.ok,
                "reason": verdict.reason,
                "version": verdict.version,
                "endpoint": verdict.endpoint,
                "auth": verdict.auth,
            }
        )
    if as_json:
        click.echo(json.dumps(results))
    elif not results:
        click.echo("no agents configured (add some under `agents:` in the config)")
    for r in [] if as_json else results:
        mark = "ok " if r["usable"] else "NO "
        version = f" [{r['version']}]" if r["version"] else ""
        click.echo(f"{mark} {r['agent']} ({r['type']}){version}: {r['reason']}")
    if not results or not any(r["usable"] for r in results):
        sys.exit(1)


@click.command()
@root_and_config_options
@click.option(
    "--older-than",
    type=DURATION,
    default="7d",
    show_default=True,
    help="Age of finished runs to delete (e.g. 12h, 30m).",
)
@click.option("--dry-run", is_flag=True, help="Only show what would be deleted.")
@click.option("--keep-failed", is_flag=True, help="Keep failed runs.")
@click.option(
    "--rotate-bus",
    is_flag=True,
    help="Also rotate bus files larger than storage.bus_rotate_bytes (default 10 MB).",
)
@reports_errors
def gc(
    root: str | None,
    config_path: str | None,
    older_than: float,
    dry_run: bool,
    keep_failed: bool,
    rotate_bus: bool,
) -> None:
    """Delete old finished runs (never running ones)."""
    from conductor_loop.runner.control import collect_garbage

    runs_root, config = load(root, config_path)
    items = collect_garbage(
        runs_root, older_than=older_than, dry_run=dry_run, keep_failed=keep_failed
    )
    verb = "would delete" if dry_run else "deleted"
    for item in items:
        click.echo(f"{verb} {item.path} ({item.status}, ended {item.age_seconds / 3600:.1f}h ago)")
    click.echo(f"{verb} {len(items)} run(s)")
    if rotate_bus:
        from conductor_loop.runner.control import rotate_buses

        limit = config.storage.bus_rotate_bytes or 10 * 1024 * 1024
        for path in rotate_buses(runs_root, limit, dry_run=dry_run):
            click.echo(f"{'would rotate' if dry_run else 'rotated'} {path}")
