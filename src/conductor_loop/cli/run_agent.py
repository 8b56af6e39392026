"""``run-agent``: the local CLI. Works on the runs root directly, no server needed.

The entry point imports nothing heavy itself: ``bus post``, which agents run many times
per run, goes to ``cli.fast_post`` (no click) when it can, and the group's own help
(``--help``, ``-h``, no arguments) to ``cli.fast_help``; everything else, and what those
decline, to the click group in ``cli.app``. Started by the agents' launcher
(``runner.agent_launcher``, ``python -S``), only those two run without ``site``.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `bus post` start-up
if TYPE_CHECKING:
    from typing import NoReturn


def main() -> None:
    args = sys.argv[1:]
    if "post" in args and "bus" in args:
        from conductor_loop.cli.fast_post import try_post

        status = try_post(args)
        if status is not None:
            _exit_now(status)
    if len(args) <= 1:
        from conductor_loop.cli.fast_help import try_help

        status = try_help(args)
        if status is not None:
            sys.exit(status)
    if sys.flags.no_site:  # the agents' launcher (runner.agent_launcher) skipped site
        import site

        site.main()
    # We use no pydantic plugins; skipping their entry-point scan saves ~40 ms per start.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from conductor_loop.cli.app import cli

    cli()


def _exit_now(status: int) -> NoReturn:
    """End the process after a fast post without the interpreter's teardown of its
    modules, which takes about as long as the post itself (~2 ms). Nothing else is left
    to do: the post closed its files, and nothing registered an atexit handler; only
    stdout and stderr are flushed, and a failure to flush them exits 120, as Python does.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 120
    os._exit(status)


def __getattr__(name: str) -> object:
    """``cli``, the click group, imported when asked for (tests drive it in-process)."""
    if name == "cli":
        from conductor_loop.cli.app import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
