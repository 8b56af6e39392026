"""Process control for agent runs: start in a new session, wait, and kill the whole tree.

Agents run in their own session and process group so that a signal to the group reaches
everything they started. Descendants that left the group (``setsid``, daemonising) are
found through psutil before the kill, so grandchildren die too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil


def start_agent_process(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    stdin_path: Path,
    stdout_path: Path,
    stderr_path: Path,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` detached (new session) with stdin/stdout/stderr bound to files."""
    with (
        open(stdin_path, "rb") as stdin,
        open(stdout_path, "ab") as stdout,
        open(stderr_path, "ab") as stderr,
    ):
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            close_fds=True,
        )


def _descendants(pid: int) -> list[psutil.Process]:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _group_members(pgid: int) -> list[psutil.Process]:
    import psutil

    members = []
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
    return members


def _signal_tree(pgid: int, processes: list[psutil.Process], sig: int) -> None:
    import psutil

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    import psutil

    alive = []
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
    return alive


def terminate_tree(
    pid: int,
    pgid: int,
    *,
    grace: float,
    popen: subprocess.Popen[bytes] | None = None,
) -> bool:
    """SIGTERM the agent's group and descendants; SIGKILL whatever is left after ``grace``.

    Returns True when everything is gone. ``popen`` (when we are the parent) is reaped
    so the agent does not linger as a zombie.
    """
    import psutil

    tracked = {p.pid: p for p in _descendants(pid) + _group_members(pgid)}
    with contextlib.suppress(psutil.Error):
        tracked.setdefault(pid, psutil.Process(pid))
    processes = list(tracked.values())
    if grace > 0:
        _signal_tree(pgid, processes, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if popen is not None:
                popen.poll()
            # new descendants may have appeared while shutting down
            for proc in _descendants(pid):
                tracked.setdefault(proc.pid, proc)
            processes = _alive(list(tracked.values()))
            if not processes:
                return True
            time.sleep(0.05)
    processes = _alive(list(tracked.values()))
    _signal_tree(pgid, processes, signal.SIGKILL)
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=5)
    _gone, still = psutil.wait_procs(processes, timeout=5)
    return not still


def exit_code_of(returncode: int) -> int:
    """Shell convention: a process killed by signal N exits with 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def pid_alive(pid: int, *, started_before: float | None = None) -> bool:
    """Whether ``pid`` is a live (non-zombie) process, optionally one that already existed
    at ``started_before`` (epoch seconds) — a guard against PID reuse."""
    import psutil

    if pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return not (started_before is not None and proc.create_time() > started_before + 1.0)
    except psutil.Error:
        return False
