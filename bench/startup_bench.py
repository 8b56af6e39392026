"""Server start-up and idle memory over 10,000 and 100,000 runs, against a floor.

Run: ``python -m bench startup``. In interleaved repetitions it starts the floor (an
empty ASGI app under the same server, ``bench/serving.py``), ``conductor`` over an
empty runs root and ``conductor`` over 10,000 runs, and times each from spawn to its
first healthy answer; for ``conductor`` also until its lists stop saying ``partial``
(the background index is complete). Idle RSS is taken once the index is complete, at
10,000 and 100,000 runs, and reported next to the empty-root server's.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.gen_runs import generate
from bench.report import Row, finish
from bench.serving import Started, start_conductor, start_floor

REPS = 3
SIZES = (10_000, 100_000)
IDLE_SECONDS = 2.0


def index_complete(server: Started, timeout: float = 300) -> float:
    """Seconds from the server's spawn until its run list is no longer partial."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url, timeout=30) as client:
        while time.monotonic() < deadline:
            if client.get("/api/v1/runs", params={"limit": 1}).json().get("partial") is False:
                return server.startup_seconds + _since(server)
            time.sleep(0.005)
    raise RuntimeError("the index did not complete")


def _since(server: Started) -> float:
    return time.perf_counter() - server.healthy_at


def idle_rss(server: Started) -> float:
    time.sleep(IDLE_SECONDS)
    return server.rss_mb()


def main() -> int:
    details: dict[str, Any] = {"reps": REPS}
    samples: dict[str, list[float]] = {
        k: [] for k in ("floor", "empty", "10k", "10k_index", "floor_rss", "empty_rss", "10k_rss")
    }
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        work = Path(tmp)
        roots = {}
        for size in SIZES:
            roots[size] = work / f"runs-{size}"
            started = time.perf_counter()
            generate(roots[size], size, projects=10, tasks=10)
            details[f"generate_{size}_s"] = time.perf_counter() - started
        empty = work / "runs-empty"
        empty.mkdir()
        os.sync()  # write-back of the generated trees must not run during the start-ups
        for _rep in range(REPS):
            floor = start_floor(work)
            samples["floor"].append(floor.startup_seconds)
            samples["floor_rss"].append(idle_rss(floor))
            floor.stop()
            bare = start_conductor(empty, work)
            samples["empty"].append(bare.startup_seconds)
            samples["empty_rss"].append(idle_rss(bare))
            bare.stop()
            big = start_conductor(roots[10_000], work)
            samples["10k"].append(big.startup_seconds)
            samples["10k_index"].append(index_complete(big))
            samples["10k_rss"].append(idle_rss(big))
            big.stop()
        huge = start_conductor(roots[100_000], work)
        details["100k_startup_s"] = huge.startup_seconds
        details["100k_index_s"] = index_complete(huge)
        details["100k_rss_mb"] = idle_rss(huge)
        huge.stop()
        for size in SIZES:  # much faster than shutil.rmtree for 100,000s of directories
            subprocess.run(["rm", "-rf", str(roots[size])], check=False)
    med = {k: statistics.median(v) for k, v in samples.items()}
    details["samples"] = samples
    floor_ms = med["floor"] * 1000
    rows = [
        Row("floor: empty ASGI app to healthy", floor_ms, "ms", note=f"median of {REPS}"),
        Row(
            "start-up to healthy, empty runs root",
            med["empty"] * 1000,
            "ms",
            note=f"{med['empty'] / med['floor']:.2f}x floor",
        ),
        Row(
            "start-up to healthy, 10,000 runs",
            med["10k"] * 1000,
            "ms",
            "<= 400 ms",
            med["10k"] <= 0.4,
            f"{med['10k'] / med['floor']:.2f}x floor; max {max(samples['10k']) * 1000:.0f} ms",
        ),
        Row(
            "  index complete (lists no longer partial)",
            med["10k_index"] * 1000,
            "ms",
            note="from spawn",
        ),
        Row(
            "start-up to healthy, 100,000 runs",
            details["100k_startup_s"] * 1000,
            "ms",
            note=f"index complete at {details['100k_index_s'] * 1000:.0f} ms",
        ),
        Row("floor: idle RSS", med["floor_rss"], "MB"),
        Row("idle RSS, empty runs root", med["empty_rss"], "MB"),
        Row(
            "idle RSS, 10,000 runs",
            med["10k_rss"],
            "MB",
            "<= 60 MB",
            med["10k_rss"] <= 60,
            f"index {med['10k_rss'] - med['empty_rss']:.1f} MB over the empty root",
        ),
        Row(
            "idle RSS, 100,000 runs",
            details["100k_rss_mb"],
            "MB",
            note=f"index {details['100k_rss_mb'] - med['empty_rss']:.1f} MB over the empty root",
        ),
    ]
    return finish("startup", rows, details)


if __name__ == "__main__":
    sys.exit(main())
