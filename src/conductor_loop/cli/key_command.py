"""``conductor key``: the login URL (or the bare key) of a server on this machine."""

from __future__ import annotations

import click

from conductor_loop.cli.common import reports_errors


@click.command()
@click.option(
    "--config",
    "config_path",
    envvar="CONDUCTOR_CONFIG",
    show_envvar=True,
    help="Config file of the server (default: ./config.yaml, then the user config).",
)
@click.option("--raw", is_flag=True, help="Print only the key (for CONDUCTOR_API_KEY=...).")
@reports_errors
def key(config_path: str | None, raw: bool) -> None:
    """Print the browser login URL of the server, with its key.

    The key is the configured one (api.api_key, api.api_key_file, $CONDUCTOR_API_KEY),
    else the one the server generated in its state directory when it first started on a
    non-loopback address. Exits 1 when the server needs no key or has none yet.
    """
    from conductor_loop.api.access import base_url, login_url, read_generated_key
    from conductor_loop.config.loader import load_config
    from conductor_loop.hosts import is_loopback
    from conductor_loop.storage.state import resolve_state_dir

    config = load_config(config_path)
    api = config.api
    state_dir = resolve_state_dir(config.storage.state_dir)
    secret = api.resolve_api_key() or read_generated_key(state_dir)
    if not secret:
        click.echo(
            f"no API key: none is configured and none was generated in {state_dir} "
            f"(a server bound to {api.host} "
            + ("needs none)" if is_loopback(api.host) else "makes one at its first start)"),
            err=True,
        )
        raise SystemExit(1)
    if raw:
        click.echo(secret)
        return
    click.echo(login_url(base_url(api, api.host, api.port), secret))
