"""One watch on the runs root, in a background thread, feeding the index.

Every change reaches ``Index.apply`` (which updates the index and wakes the SSE clients
subscribed to the affected keys); watches are shared by all clients, never per client.

The watch is not recursive: it covers the directories the index names (projects, tasks,
their ``runs/``, and the runs that are running or being created), and is re-created
when that set changes. A recursive watch would add one inotify watch per run directory,
10,000+ of them taking the GIL for a third of a second at start-up and exhausting
small ``max_user_watches`` limits. Whatever a re-creation may miss is caught by
re-reading the newly watched directories at once; everything else by a periodic
stat-based rescan. A liveness sweep turns runs whose owner died into ``failed``.

On Linux the watch is inotify itself (``storage.inotify``): the thread sleeps in the
kernel until a change, so an appended line reaches SSE clients at once, and watches
are added and removed one by one. Elsewhere watchfiles polls its queue every STEP_MS.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from conductor_loop.orchestration.index import Index
from conductor_loop.storage import inotify

log = logging.getLogger("conductor_loop.api")

# watchfiles returns a batch once no new change arrived for STEP_MS; small, so that an
# appended line reaches SSE clients within a few milliseconds.
STEP_MS = 2
RUST_TIMEOUT_MS = 1000
# inotify: how long one wait for events lasts (the stop request is seen in between).
INOTIFY_WAIT = 0.5


class RootWatcher:
    def __init__(
        self,
        index: Index,
        *,
        rescan_interval: float = 30.0,
        sweep_interval: float = 2.0,
        sweep: Callable[[], None] | None = None,
    ) -> None:
        self.index = index
        self.rescan_interval = rescan_interval
        self.sweep_interval = sweep_interval
        self._sweep = sweep
        self._stop = threading.Event()
        self._watch_ready = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        watch = self._inotify_loop if inotify.available() else self._watch_loop
        for name, target in (
            ("conductor-watch", watch),
            ("conductor-rescan", self._maintenance_loop),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def wait_ready(self, timeout: float) -> bool:
        return self._watch_ready.wait(timeout)

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _inotify_loop(self) -> None:
        index = self.index
        index.root.path.mkdir(parents=True, exist_ok=True)
        notify: inotify.Inotify | None = None
        version = -1
        try:
            notify = inotify.Inotify()
            while not self._stop.is_set():
                if index.layout_version != version:
                    version = index.layout_version
                    wanted = index.watch_dirs()
                    watched = notify.watched
                    added = {d for d in sorted(wanted - watched) if notify.add(d)}
                    for gone in watched - wanted:
                        notify.remove(gone)
                    first = not self._watch_ready.is_set()
                    if added and not first:
                        # Catch what changed in new directories before they were watched.
                        index.apply(added)
                        index.wake_running()
                    self._watch_ready.set()
                    if first:
                        # What changed between the start-up walk and the first watch.
                        index.apply_rescan()
                        index.wake_running()
                changed = notify.read(INOTIFY_WAIT)
                if inotify.OVERFLOW in changed:
                    changed.discard(inotify.OVERFLOW)
                    log.warning("file change notification overflowed; rescanning")
                    index.apply_rescan()
                    index.wake_running()
                if changed:
                    index.apply(changed)
        except Exception:
            log.exception("file watcher failed; relying on periodic rescans")
            self._watch_ready.set()
        finally:
            if notify is not None:
                notify.close()

    def _watch_loop(self) -> None:
        from watchfiles._rust_notify import RustNotify

        index = self.index
        index.root.path.mkdir(parents=True, exist_ok=True)
        notify: RustNotify | None = None
        watched: set[str] = set()
        version = -1
        try:
            while not self._stop.is_set():
                if index.layout_version != version:
                    version = index.layout_version
                    wanted = {d for d in index.watch_dirs() if os.path.isdir(d)}
                    if wanted != watched:
                        try:
                            fresh = RustNotify(sorted(wanted), False, False, 0, False, True)
                        except FileNotFoundError:  # a directory vanished: retry next round
                            fresh, version = None, -1
                        if fresh is not None:
                            if notify is not None:
                                # The old watch ends only once the new one is in place, and
                                # what it caught until then is applied: no change falls in
                                # between (another replica may be writing all the time).
                                drained = notify.watch(0, 1, 1, self._stop)
                                notify.close()
                                if isinstance(drained, set):
                                    index.apply({path for _change, path in drained})
                            notify = fresh
                            if watched:
                                # Catch what changed in new directories before they were
                                # watched.
                                index.apply(wanted - watched)
                            else:
                                # What changed between the start-up walk and the first watch.
                                index.apply_rescan()
                            index.wake_running()
                            watched = wanted
                    self._watch_ready.set()
                if notify is None:
                    self._stop.wait(0.1)
                    continue
                result = notify.watch(0, STEP_MS, RUST_TIMEOUT_MS, self._stop)
                if isinstance(result, set):
                    index.apply({path for _change, path in result})
                elif result == "stop":
                    return
        except Exception:
            log.exception("file watcher failed; relying on periodic rescans")
            self._watch_ready.set()
        finally:
            if notify is not None:
                notify.close()

    def _maintenance_loop(self) -> None:
        # Changes between the start-up walk and the first watch are the watch loop's (it
        # rescans once watching); these rescans catch what a watch can miss (e.g. writes
        # from other hosts on a network file system).
        next_rescan = time.monotonic() + self.rescan_interval
        while not self._stop.wait(self.sweep_interval):
            try:
                if self._sweep is not None:
                    self._sweep()
                if time.monotonic() >= next_rescan:
                    next_rescan = time.monotonic() + self.rescan_interval
                    self.index.apply_rescan()
            except Exception:
                log.exception("index maintenance failed")
