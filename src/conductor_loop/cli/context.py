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


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM/SIGINT/SIGHUP, so a runner ends its run cleanly (and records
    it) instead of dying mid-way."""
    stop = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, handler)
    return stop
