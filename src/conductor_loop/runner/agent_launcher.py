"""The ``run-agent`` an agent finds first on its PATH: the same CLI, started without
``site`` (``python -S``).

Agents run ``run-agent bus post`` many times per run, often several at once, and a
console script pays for ``site`` at every start: importing it and reading each ``.pth``
file in site-packages, about a quarter of a bare Python start. Posting needs nothing from
site-packages, so the launcher puts only this package's directory on ``sys.path``; any
other command runs ``site.main()`` first (``cli.run_agent``) and so behaves exactly as the
console script does.

There is one launcher per interpreter and package location, in an owner-only directory
named by the launcher's hash under ``<state dir>/bin/``, written once (atomically). Where
a shebang cannot name the interpreter (whitespace in its path, or a path too long for
the kernel), agents get the console script, as before.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import conductor_loop
from conductor_loop.storage.state import keep_private_file

LAUNCHERS_DIR = "bin"
LAUNCHER_NAME = "run-agent"
# The kernel reads at most 127 bytes of a "#!" line on older Linux (256 since 5.1);
# pip's own launchers fall back to /bin/sh above 127 as well.
MAX_SHEBANG = 127


def package_parent() -> str:
    """The directory this ``conductor_loop`` package was imported from."""
    return os.path.dirname(os.path.dirname(os.path.abspath(conductor_loop.__file__)))


def launcher_text(python: str, package_dir: str) -> str | None:
    """The launcher's source for interpreter ``python``; None when no shebang can name it."""
    shebang = f"#!{python} -S"
    if not os.path.isabs(python) or len(shebang.encode()) > MAX_SHEBANG:
        return None
    if any(ch.isspace() for ch in python):
        return None
    return (
        f"{shebang}\n"
        "# conductor-loop's run-agent for agents' runs: Python without site "
        "(conductor_loop.runner.agent_launcher)\n"
        "import sys\n"
        f"sys.path.append({package_dir!r})\n"
        "from conductor_loop.cli.run_agent import main\n"
        "main()\n"
    )


def agent_launcher_dir(state_dir: Path) -> str | None:
    """The directory holding the launcher for this interpreter and package, written there
    if it is missing; None where there can be none, or it cannot be written or run there
    (the caller then leaves agents the console script)."""
    text = launcher_text(sys.executable, package_parent())
    if text is None:
        return None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    directory = state_dir / LAUNCHERS_DIR / digest
    try:
        keep_private_file(directory / LAUNCHER_NAME, text, mode=0o700)
        if os.statvfs(directory).f_flag & os.ST_NOEXEC:
            return None  # mounted noexec: the launcher could not be run
    except OSError:  # StorageError too
        return None
    return str(directory)
