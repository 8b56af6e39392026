"""Server behaviour that is not user configuration, shared by the app and its front.

A module of its own so that ``server`` and ``startup`` can use it without importing
``app`` (and with it FastAPI) before the server listens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(slots=True)
class AppSettings:
    """Server behaviour that is not user configuration (tests tune these)."""

    heartbeat_interval: float = 15.0
    rescan_interval: float = 10.0
    sweep_interval: float = 2.0
    first_run_timeout: float = 15.0
    conductor_url: str | None = None
    bound_host: str | None = None  # accepted in Host headers (with the localhost names)
    ui_dist: Path | None = None
    # Start-up waits this long for the index before serving: a small runs root is then
    # served complete from the first request; a big one is served partial at once.
    index_wait: float = 0.1
    # Tests: the index build waits until this file exists (a deterministic slow index).
    index_hold: Path | None = None
    # Tests: building the app (FastAPI and the routes) waits until this file exists, so
    # that what the server answers before its app is ready can be seen.
    app_hold: Path | None = None
    # Several workers: where each publishes its metrics, and the server's start
    # (monotonic clock), so that /metrics and the status report the whole server.
    metrics_dir: Path | None = None
    started: float | None = None
