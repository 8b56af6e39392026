"""Per-worker metric snapshots on real files: summed, and a dead worker's counters kept."""

from __future__ import annotations

import json
from pathlib import Path

from conductor_loop.api import metrics_files
from conductor_loop.api.metrics_files import Snapshot


def snapshot(requests: int, appends: float, clients: float) -> Snapshot:
    return Snapshot(
        requests={("GET", "/x", 200): requests},
        counters={"bus_appends": appends},
        gauges={"sse_clients": clients},
    )


def test_sums_workers_and_keeps_a_retired_workers_counters(tmp_path: Path) -> None:
    first, second = metrics_files.worker_name(101), metrics_files.worker_name(202)
    metrics_files.write(tmp_path, first, snapshot(3, 1, 2))
    metrics_files.write(tmp_path, second, snapshot(4, 5, 1))
    total = metrics_files.read_all(tmp_path)
    assert total.requests == {("GET", "/x", 200): 7}
    assert total.counters == {"bus_appends": 6}
    assert total.gauges == {"sse_clients": 3}
    assert total.workers == 2

    metrics_files.retire(tmp_path, 101)
    assert not (tmp_path / f"{first}.json").exists()
    total = metrics_files.read_all(tmp_path)
    assert total.requests == {("GET", "/x", 200): 7}  # counters stay
    assert total.counters == {"bus_appends": 6}
    assert total.gauges == {"sse_clients": 1}  # gauges are the live workers'
    assert total.workers == 1

    # A new worker that gets the same pid is a different file, counted on top.
    again = metrics_files.worker_name(101)
    assert again != first
    metrics_files.write(tmp_path, again, snapshot(1, 0, 0))
    assert metrics_files.read_all(tmp_path).requests == {("GET", "/x", 200): 8}
    metrics_files.retire(tmp_path, 101)
    metrics_files.retire(tmp_path, 202)
    total = metrics_files.read_all(tmp_path)
    assert total.requests == {("GET", "/x", 200): 8}
    assert total.workers == 0
    retired = json.loads((tmp_path / metrics_files.RETIRED).read_text(encoding="utf-8"))
    assert sorted(retired["folded"]) == sorted([first, again, second])


def test_a_file_still_listed_after_its_fold_is_counted_once(tmp_path: Path) -> None:
    """A reader that finds the worker's file and the new retired.json counts it once."""
    name = metrics_files.worker_name(303)
    metrics_files.write(tmp_path, name, snapshot(2, 0, 0))
    saved = (tmp_path / f"{name}.json").read_text(encoding="utf-8")
    metrics_files.retire(tmp_path, 303)
    (tmp_path / f"{name}.json").write_text(saved, encoding="utf-8")  # as if not yet removed
    assert metrics_files.read_all(tmp_path).requests == {("GET", "/x", 200): 2}


def test_own_snapshot_replaces_its_file(tmp_path: Path) -> None:
    name = metrics_files.worker_name(404)
    metrics_files.write(tmp_path, name, snapshot(1, 0, 0))
    total = metrics_files.read_all(tmp_path, own=(name, snapshot(9, 0, 0)))
    assert total.requests == {("GET", "/x", 200): 9}
    assert metrics_files.read_all(tmp_path / "missing").workers == 0
