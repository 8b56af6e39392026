"""``run-agent``: the local CLI. Works on the runs root directly, no server needed.

The entry point imports nothing heavy itself: ``bus post``, which agents run many times
per run, goes to ``cli.fast_post`` (no click) when it can, and the group's own help
(``--help``, ``-h``, no arguments) to ``cli.fast_help``; everything else, and what those
decline, to the click group in ``cli.app``.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    args = sys.argv[1:]
    if "post" in args and "bus" in args:
        from conductor_loop.cli.fast_post import try_post

        status = try_post(args)
        if status is not None:
            sys.exit(status)
    if len(args) <= 1:
        from conductor_loop.cli.fast_help import try_help

        status = try_help(args)
        if status is not None:
            sys.exit(status)
    # We use no pydantic plugins; skipping their entry-point scan saves ~40 ms per start.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from conductor_loop.cli.app import cli

    cli()


def __getattr__(name: str) -> object:
    """``cli``, the click group, imported when asked for (tests drive it in-process)."""
    if name == "cli":
        from conductor_loop.cli.app import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
