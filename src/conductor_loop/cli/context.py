"""Loading config and runs root for a CLI command, and turning signals into stop events."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from conductor_loop.config import Config, load_config
from conductor_loop.storage.layout import RunsRoot, resolve_runs_root


def load(root: str | None, config_path: str | None) -> tuple[RunsRoot, Config]:
    config = load_config(config_path)
    return resolve_runs_root(root, config.storage.runs_dir), config


def stop_on_signals() -> tuple[threading.Event, threading.Event]:
    """``(stop, shutdown)`` events set by signals, so a runner ends its run cleanly and
    records it instead of dying mid-way.

    SIGINT (Ctrl-C) is a person stopping the work: ``stop``. SIGTERM and SIGHUP are the
    machine or container going down: ``shutdown`` (and ``stop``, to wake waiters) — the
    cut-off run is recorded as failed and the loop is left for a server to resume.
    """
    stop = threading.Event()
    shutdown = threading.Event()

    def on_interrupt(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    def on_shutdown(_signum: int, _frame: FrameType | None) -> None:
        shutdown.set()
        stop.set()

    signal.signal(signal.SIGINT, on_interrupt)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_shutdown)
    return stop, shutdown
