#!/usr/bin/env python3
"""PID 1 of the Conductor Loop image: ``conductor-init [--] COMMAND [ARG...]``.

What ``docker run --init`` (tini) does, plus an orderly end for the processes that the
server leaves running on purpose (each task's ``run-agent task`` loop and its agent run
in their own sessions, so that a server restart does not kill them):

- starts COMMAND with a clean signal mask and default signal dispositions;
- forwards SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 and SIGWINCH to it;
- reaps every process re-parented to PID 1, so no zombies pile up;
- once COMMAND has exited (after a ``docker stop`` or on its own), sends SIGTERM to every
  process still in the container, so runners can record how their runs ended, waits up
  to ``CONDUCTOR_INIT_GRACE`` seconds (default 8, inside ``docker stop``'s default 10 s)
  for them, then sends SIGKILL;
- exits with COMMAND's exit status; 0 when COMMAND was ended by the SIGTERM or SIGINT
  that this init forwarded for a stop request (a requested stop is a clean stop).

Standard library only: it runs with the image's Python before anything else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

FORWARDED = frozenset(
    {
        signal.SIGTERM,
        signal.SIGINT,
        signal.SIGQUIT,
        signal.SIGHUP,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGWINCH,
    }
)
STOPPING = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})
HANDLED = FORWARDED | {signal.SIGCHLD}
POLL_SECONDS = 0.5


def say(message: str) -> None:
    print(f"conductor-init: {message}", file=sys.stderr, flush=True)


def check_runs_dir() -> None:
    """Warn early, in words a user can act on, when the runs dir cannot be written."""
    root = os.environ.get("CONDUCTOR_ROOT")
    if not root or not os.path.isdir(root) or os.access(root, os.W_OK | os.X_OK):
        return
    st = os.stat(root)
    say(
        f"warning: {root} (owner uid {st.st_uid}) is not writable by uid {os.getuid()}; "
        f"give the host directory to that uid (chown -R {os.getuid()}:{os.getgid()} DIR) "
        "or run the container with --user matching its owner"
    )


def exit_status(status: int, stop_signal: int | None) -> int:
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if stop_signal is not None and sig == stop_signal and sig != signal.SIGQUIT:
            return 0
        return 128 + sig
    return 1


def reap(main_pid: int) -> tuple[int | None, bool]:
    """Collect every exited child. Returns (main child's status if it ended, any left?)."""
    main_status = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return main_status, False
        if pid == 0:
            return main_status, True
        if pid == main_pid:
            main_status = status


def run(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        say("usage: conductor-init [--] COMMAND [ARG...]")
        return 2
    try:
        grace = float(os.environ.get("CONDUCTOR_INIT_GRACE", "8"))
    except ValueError:
        grace = 8.0

    # Signals are taken synchronously with sigtimedwait: block them before the child
    # exists, and give the child an empty mask and default handlers.
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    _become_subreaper()
    check_runs_dir()
    try:
        main_pid = os.posix_spawnp(
            argv[0], argv, dict(os.environ), setsigmask=(), setsigdef=HANDLED
        )
    except OSError as exc:
        say(f"cannot start {argv[0]!r}: {exc.strerror or exc}")
        return 127 if isinstance(exc, FileNotFoundError) else 126

    main_status: int | None = None
    stop_signal: int | None = None
    deadline: float | None = None  # set once the leftovers have been sent SIGTERM
    killed = False
    while True:
        ended, children_left = reap(main_pid)
        if ended is not None and main_status is None:
            main_status = ended
        if main_status is not None:
            if not children_left:
                break
            if deadline is None:
                say("main process exited; asking the remaining processes to stop")
                _signal_all(signal.SIGTERM)
                deadline = time.monotonic() + grace
            elif not killed and time.monotonic() >= deadline:
                say(f"processes still running after {grace:g}s; killing them")
                _signal_all(signal.SIGKILL)
                killed = True
        info = signal.sigtimedwait(HANDLED, POLL_SECONDS)
        if info is None or info.si_signo == signal.SIGCHLD:
            continue
        signo = info.si_signo
        if main_status is None:
            if signo in STOPPING and stop_signal is None:
                stop_signal = signo
                say(f"received {signal.Signals(signo).name}; stopping")
            with contextlib.suppress(ProcessLookupError):
                os.kill(main_pid, signo)
        elif signo in STOPPING and deadline is not None and not killed:
            # A second stop request while waiting for the leftovers: pass it on.
            _signal_all(signo)
    assert main_status is not None
    return exit_status(main_status, stop_signal)


def _signal_all(signo: int) -> None:
    """Signal every process left behind: as PID 1, all others in the container."""
    if os.getpid() == 1:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(-1, signo)
        return
    # Not PID 1 (say, under `docker run --init`, or tried out on a host): only this
    # process's own descendants, never everything the user may signal.
    for pid in _descendants(os.getpid()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signo)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _become_subreaper() -> None:
    """Outside PID 1, adopt orphaned descendants (PR_SET_CHILD_SUBREAPER) to reap them."""
    if os.getpid() == 1 or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
