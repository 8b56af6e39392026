"""Several server processes on one port: fork the workers, restart a crashed one, stop all.

The parent binds the socket and resolves the API key, then forks; each worker inherits
the listening socket and accepts on it (the kernel hands each connection to one of
them). The parent only supervises: SIGTERM or SIGINT is passed on to every worker as
SIGTERM (each then shuts down as a single server does), and a worker that dies while
the server is not stopping is started again. Each worker is in a process group of its
own, so a terminal's Ctrl-C reaches the parent only, and it dies with the parent
(``PR_SET_PDEATHSIG``): a killed server leaves no workers behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("conductor_loop.api")

# A worker that dies more often than this within RESTART_WINDOW seconds is not restarted
# again: the server stops instead of looping on a start-up failure.
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
_PR_SET_PDEATHSIG = 1


def supervise(
    count: int, run: Callable[[bool], None], reaped: Callable[[int], None] | None = None
) -> int:
    """Run ``run(announce)`` in ``count`` forked workers until they all exit.

    ``announce`` is true for the first worker's first start only (the start-up lines
    are printed once). ``reaped(pid)`` is called for each worker that exited, before any
    replacement starts. Returns 0 when every worker stopped cleanly on request.
    """
    parent = os.getpid()
    children: dict[int, int] = {}  # pid -> worker index
    restarts: list[float] = []
    stopping = False
    failed = False

    def spawn(index: int, announce: bool) -> None:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the worker; its own exit code tells
            os._exit(_worker(parent, run, announce))
        children[pid] = index

    def stop(sig: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for first in range(count):
            spawn(first, announce=first == 0)
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            index = children.pop(pid, None)
            if index is None:
                continue
            if reaped is not None:
                try:
                    reaped(pid)
                except Exception:
                    log.exception("cleaning up after worker %d (pid %d) failed", index, pid)
            code = os.waitstatus_to_exitcode(status)
            if stopping:
                failed |= code not in (0, -signal.SIGTERM)
                continue
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < RESTART_WINDOW] + [now]
            if len(restarts) > MAX_RESTARTS:
                log.error(
                    "worker %d (pid %d) exited with %s; stopping the server", index, pid, code
                )
                failed = True
                stop(signal.SIGTERM, None)
                continue
            log.error("worker %d (pid %d) exited with %s; starting it again", index, pid, code)
            spawn(index, announce=False)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if failed else 0


def _worker(parent: int, run: Callable[[bool], None], announce: bool) -> int:
    """The forked worker's life; returns its exit status (never raises)."""
    code = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setpgid(0, 0)
        _die_with_parent(parent)
        run(announce)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        log.exception("worker %d failed", os.getpid())
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
    return code


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when the supervisor dies (Linux; else nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
