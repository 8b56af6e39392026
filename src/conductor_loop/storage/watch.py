"""Waiting for a file to change: watchfiles notification with a polling safety net.

Used by every tail (bus follow, run output follow, SSE). Notification makes new data
arrive promptly; the periodic wake-up covers file systems where inotify is silent
(network and some container mounts).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path


def _only(target: str) -> Callable[[object, str], bool]:
    return lambda _change, changed: changed == target


def wait_for_changes(
    path: Path,
    stop: threading.Event,
    *,
    safety_interval: float = 1.0,
) -> Iterator[None]:
    """Yield once now, then after each change to ``path`` (or ``safety_interval``)."""
    import watchfiles

    yield
    watch_dir = path.parent
    while not stop.is_set():
        if not watch_dir.is_dir():
            if stop.wait(safety_interval):
                return
            yield
            continue
        try:
            for _changes in watchfiles.watch(
                watch_dir,
                watch_filter=_only(str(path)),
                stop_event=stop,
                rust_timeout=int(safety_interval * 1000),
                yield_on_timeout=True,
                debounce=0,
                step=1,
                recursive=False,
                raise_interrupt=False,
            ):
                yield
                if stop.is_set():
                    return
        except FileNotFoundError:
            if stop.wait(safety_interval):
                return
