"""``conductor``: with no subcommand, the API server; subcommands are API clients."""

from __future__ import annotations

import dataclasses
import os

import click

from conductor_loop import __version__
from conductor_loop.cli.common import reports_errors
from conductor_loop.cli.lazy import LazyGroup

_CLIENT = "conductor_loop.cli.conductor_client"
_COMMANDS: dict[str, str] = {
    "status": f"{_CLIENT}:status",
    "task": f"{_CLIENT}:task",
    "job": f"{_CLIENT}:job",
    "bus": f"{_CLIENT}:bus",
    "project": f"{_CLIENT}:project",
    "key": "conductor_loop.cli.key_command:key",
}


@click.group(
    cls=LazyGroup,
    lazy_commands=_COMMANDS,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="conductor")
@click.option(
    "--host",
    envvar="CONDUCTOR_HOST",
    show_envvar=True,
    help="Bind address (default 127.0.0.1; a wider one always needs an API key).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    envvar="CONDUCTOR_PORT",
    show_envvar=True,
    help="Port (0 = any free port; the start-up line says which).",
)
@click.option(
    "--config",
    "config_path",
    envvar="CONDUCTOR_CONFIG",
    show_envvar=True,
    help="Config file (default: ./config.yaml, then ~/.config/conductor/config.yaml).",
)
@click.option(
    "--root",
    "root",
    envvar="CONDUCTOR_ROOT",
    show_envvar=True,
    help="Runs root (default: storage.runs_dir, then ~/.run-agent/runs).",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 256),
    envvar="CONDUCTOR_WORKERS",
    show_envvar=True,
    help="Server processes on the one port (api.workers; default 0: one per CPU core).",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Serve a non-loopback address with no API key (api.insecure); warns on every start.",
)
@click.pass_context
@reports_errors
def cli(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    config_path: str | None,
    root: str | None,
    workers: int | None,
    insecure: bool,
) -> None:
    """Conductor Loop API server (no subcommand) and its client commands.

    The server binds api.host:api.port from the config (default 127.0.0.1:14355);
    flags and CONDUCTOR_* variables override it. Bound to any other address it requires
    an API key: the configured one, or one it generates and stores in the state
    directory (`conductor key` prints the login URL). Client commands talk to --server
    (default http://127.0.0.1:14355).
    """
    if ctx.invoked_subcommand is not None:
        return
    from conductor_loop.api.server import serve
    from conductor_loop.config.loader import find_config_file, load_config
    from conductor_loop.storage.layout import resolve_runs_root

    found = find_config_file(config_path)
    config = load_config(str(found) if found else None)
    if host:
        config.api = dataclasses.replace(config.api, host=host)
    if port is not None:
        config.api = dataclasses.replace(config.api, port=port)
    if insecure:
        config.api = dataclasses.replace(config.api, insecure=True)
    if workers is not None:
        config.api = dataclasses.replace(config.api, workers=workers)
    runs_root = resolve_runs_root(root, config.storage.runs_dir)
    serve(config, runs_root, config_path=str(found) if found else None)


def main() -> None:
    # We use no pydantic plugins; skipping their entry-point scan shortens start-up.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    cli()


if __name__ == "__main__":
    main()
