"""Server start-up and idle memory over 10,000 and 100,000 runs, against a floor.

Run: ``python -m bench startup`` (``BENCH_REPS`` repetitions, default 3). In interleaved
repetitions it starts the floor (an empty ASGI app under the same server,
``bench/serving.py``), ``conductor --workers 1`` over an empty runs root and over 10,000
runs, and times each from spawn to its first healthy answer; for ``conductor`` also to
its first answer from the app (``/api/v1/runs``: the FastAPI app is built behind the
front meanwhile) and until its lists stop saying ``partial`` (the background index is
complete). Idle memory is taken once the index is complete: RSS, USS and PSS, for one
worker and summed over two (``--workers 2``; the supervisor apart), at 10,000 and
100,000 runs. Start-up and RSS are also given as ratios to the floor's.
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

from bench.gen_runs import generate
from bench.report import Row, finish
from bench.serving import Memory, Started, start_conductor, start_floor

REPS = int(os.environ.get("BENCH_REPS", "3"))
SIZES = (10_000, 100_000)
IDLE_SECONDS = 2.0
STARTUP_TARGET_MS = 400
RSS_TARGET_MB = 60


def idle_memory(server: Started) -> Memory:
    time.sleep(IDLE_SECONDS)
    return server.memory()


def run_conductor(root: Path, work: Path, workers: int) -> dict[str, Any]:
    server = start_conductor(root, work, workers=workers)
    try:
        ready, complete = server.wait_indexed()
        memory = idle_memory(server)
    finally:
        server.stop()
    return {
        "healthy": server.startup_seconds,
        "ready": ready,
        "index": complete,
        "rss": memory.rss,
        "uss": memory.uss,
        "pss": memory.pss,
        "workers": memory.workers,
        "supervisor": memory.supervisor,
    }


def main() -> int:
    details: dict[str, Any] = {"reps": REPS}
    runs: dict[str, list[dict[str, Any]]] = {"empty": [], "10k": []}
    floors: list[dict[str, float]] = []
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
            floors.append({"healthy": floor.startup_seconds, "rss": idle_memory(floor).rss})
            floor.stop()
            runs["empty"].append(run_conductor(empty, work, 1))
            runs["10k"].append(run_conductor(roots[10_000], work, 1))
        single_100k = run_conductor(roots[100_000], work, 1)
        two_10k = run_conductor(roots[10_000], work, 2)
        two_100k = run_conductor(roots[100_000], work, 2)
        for size in SIZES:  # much faster than shutil.rmtree for 100,000s of directories
            subprocess.run(["rm", "-rf", str(roots[size])], check=False)
    details.update(
        floor=floors, runs=runs, single_100k=single_100k, two_10k=two_10k, two_100k=two_100k
    )
    return finish("startup", rows(floors, runs, single_100k, two_10k, two_100k), details)


def rows(
    floors: list[dict[str, float]],
    runs: dict[str, list[dict[str, Any]]],
    single_100k: dict[str, Any],
    two_10k: dict[str, Any],
    two_100k: dict[str, Any],
) -> list[Row]:
    def med(samples: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(s[key] for s in samples))

    floor_s = med(floors, "healthy")
    floor_rss = med(floors, "rss")
    empty_rss = med(runs["empty"], "rss")

    def vs_floor(seconds: float) -> str:
        return f"{seconds / floor_s:.2f}x floor"

    def mem_note(figures: dict[str, Any], rss: float) -> str:
        note = f"{rss / floor_rss:.2f}x floor; USS {figures['uss']:.1f}, PSS {figures['pss']:.1f}"
        if figures["workers"] > 1:
            s_rss, s_uss, s_pss = figures["supervisor"]
            note += f"; supervisor RSS {s_rss:.1f}, USS {s_uss:.1f}, PSS {s_pss:.1f}"
        return note

    ten_k = {key: med(runs["10k"], key) for key in ("healthy", "ready", "index", "uss", "pss")}
    ten_k_rss = med(runs["10k"], "rss")
    ten_k.update(workers=1, rss=ten_k_rss)
    return [
        Row("floor: empty ASGI app to healthy", floor_s * 1000, "ms", note=f"median of {REPS}"),
        Row(
            "start-up to healthy, empty runs root",
            med(runs["empty"], "healthy") * 1000,
            "ms",
            note=vs_floor(med(runs["empty"], "healthy")),
        ),
        Row(
            "start-up to healthy, 10,000 runs",
            ten_k["healthy"] * 1000,
            "ms",
            f"<= {STARTUP_TARGET_MS} ms",
            ten_k["healthy"] * 1000 <= STARTUP_TARGET_MS,
            f"{vs_floor(ten_k['healthy'])}; max {max(r['healthy'] for r in runs['10k']) * 1000:.0f}"
            " ms",
        ),
        Row(
            "  app ready (first API answer)",
            ten_k["ready"] * 1000,
            "ms",
            note=f"from spawn; {vs_floor(ten_k['ready'])}",
        ),
        Row(
            "  index complete (lists no longer partial)",
            ten_k["index"] * 1000,
            "ms",
            note="from spawn",
        ),
        Row(
            "start-up to healthy, 10,000 runs, 2 workers",
            two_10k["healthy"] * 1000,
            "ms",
            note=f"{vs_floor(two_10k['healthy'])}; app ready {two_10k['ready'] * 1000:.0f} ms",
        ),
        Row(
            "start-up to healthy, 100,000 runs",
            single_100k["healthy"] * 1000,
            "ms",
            note=f"{vs_floor(single_100k['healthy'])}; index complete at "
            f"{single_100k['index'] * 1000:.0f} ms",
        ),
        Row("floor: idle RSS", floor_rss, "MB"),
        Row(
            "idle RSS, empty runs root",
            empty_rss,
            "MB",
            note=f"{empty_rss / floor_rss:.2f}x floor; USS {med(runs['empty'], 'uss'):.1f}",
        ),
        Row(
            "idle RSS, 10,000 runs",
            ten_k_rss,
            "MB",
            f"<= {RSS_TARGET_MB} MB",
            ten_k_rss <= RSS_TARGET_MB,
            mem_note(ten_k, ten_k_rss) + f"; index {ten_k_rss - empty_rss:.1f} MB",
        ),
        Row(
            "idle RSS, 100,000 runs",
            single_100k["rss"],
            "MB",
            note=mem_note(single_100k, single_100k["rss"])
            + f"; index {single_100k['rss'] - empty_rss:.1f} MB",
        ),
        Row(
            "idle RSS, 10,000 runs, 2 workers summed",
            two_10k["rss"],
            "MB",
            note=mem_note(two_10k, two_10k["rss"]),
        ),
        Row(
            "idle RSS, 100,000 runs, 2 workers summed",
            two_100k["rss"],
            "MB",
            note=mem_note(two_100k, two_100k["rss"]),
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
