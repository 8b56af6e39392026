"""Metrics of several worker processes, summed at scrape: one snapshot file per worker.

Each worker writes its counters and gauges to ``<dir>/<pid>-<nonce>.json`` (atomic
rename) every ``FLUSH_INTERVAL`` seconds, when it answers a scrape and when it stops;
the request path never touches the files. A scrape sums its own fresh snapshot with the
others' last ones, so another worker's figures are at most about ``FLUSH_INTERVAL`` old.

Counters never go backwards: a worker writes a snapshot before reporting it, and a file
only grows. When a worker dies the supervisor folds its last snapshot's counters into
``retired.json`` (which lists the folded files), then removes the worker's file; a reader
reads the worker files first and ``retired.json`` last, skipping the files it lists, so it
counts a dead worker's figures exactly once whenever it looks. Gauges count live
workers only. What a worker counted after its last write and before a crash is lost; it
was never reported.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conductor_loop.storage.atomic import atomic_write_text

FLUSH_INTERVAL = 1.0
RETIRED = "retired.json"

RequestKey = tuple[str, str, int]


@dataclass(slots=True)
class Snapshot:
    """Counters (monotonic) and gauges of one worker, or a sum of several."""

    requests: dict[RequestKey, int] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)
    workers: int = 0  # live workers whose gauges are in ``gauges``

    def add_counters(self, other: Snapshot) -> None:
        for key, count in other.requests.items():
            self.requests[key] = self.requests.get(key, 0) + count
        for name, value in other.counters.items():
            self.counters[name] = self.counters.get(name, 0) + value

    def add(self, other: Snapshot) -> None:
        self.add_counters(other)
        for name, value in other.gauges.items():
            self.gauges[name] = self.gauges.get(name, 0) + value
        self.workers += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": [[m, r, s, n] for (m, r, s), n in self.requests.items()],
            "counters": self.counters,
            "gauges": self.gauges,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            requests={(m, r, int(s)): int(n) for m, r, s, n in data.get("requests", [])},
            counters={str(k): float(v) for k, v in data.get("counters", {}).items()},
            gauges={str(k): float(v) for k, v in data.get("gauges", {}).items()},
        )


def create_dir() -> Path:
    """A private (0700) directory for one server's snapshots, outside the runs root."""
    return Path(tempfile.mkdtemp(prefix="conductor-metrics-"))


def remove_dir(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def worker_name(pid: int) -> str:
    """A worker's file stem: its pid (what the supervisor knows) and a nonce (a later
    worker that gets a reused pid is not taken for the retired one)."""
    return f"{pid}-{secrets.token_hex(4)}"


def write(directory: Path, name: str, snapshot: Snapshot) -> None:
    """Replace worker ``name``'s snapshot (a reader sees the old one or the new one)."""
    atomic_write_text(
        directory / f"{name}.json", json.dumps(snapshot.to_json()), fsync=False, mode=0o600
    )


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # gone meanwhile (retired), or never written whole
        return None
    return data if isinstance(data, dict) else None


def read_all(directory: Path, own: tuple[str, Snapshot] | None = None) -> Snapshot:
    """The server's figures: live workers' snapshots plus the retired counters.

    ``own`` is the caller's current snapshot, used instead of its file.
    """
    total = Snapshot()
    live: dict[str, Snapshot] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            stem, dot, ext = entry.name.partition(".")
            if ext != "json" or not dot or not stem[:1].isdigit():
                continue
            data = _read(Path(entry.path))
            if data is not None:
                live[stem] = Snapshot.from_json(data)
    if own is not None:
        live[own[0]] = own[1]
    retired = _read(directory / RETIRED) or {}  # after the worker files: see the docstring
    folded = set(retired.get("folded", []))
    total.add_counters(Snapshot.from_json(retired))
    for name, snapshot in live.items():
        if name not in folded:
            total.add(snapshot)
    return total


def retire(directory: Path, pid: int) -> None:
    """Fold a dead worker's counters into ``retired.json``, then drop its file (the
    supervisor's job, the only writer of ``retired.json``)."""
    for path in directory.glob(f"{pid}-*.json"):
        data = _read(path)
        retired = _read(directory / RETIRED) or {}
        if data is not None:
            total = Snapshot.from_json(retired)
            total.add_counters(Snapshot.from_json(data))
            merged = total.to_json()
            merged.pop("gauges")
            merged["folded"] = [*retired.get("folded", []), path.stem]
            atomic_write_text(directory / RETIRED, json.dumps(merged), fsync=False, mode=0o600)
        with contextlib.suppress(OSError):
            path.unlink()
