"""Message bus benchmarks (no fsync): append throughput in one and in four processes,
reading and parsing a 100,000-message bus, its last 20 messages, and the wall time of
``run-agent bus post``.

Run: ``python -m bench bus``. Targets are for a 2-core machine.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from bench.report import Row, finish, median
from conductor_loop.bus import BusWriter, Message, read_all

RUN_AGENT = Path(sys.executable).parent / "run-agent"
SINGLE_COUNT = 50_000
MULTI_PROCS = 4
MULTI_COUNT = 25_000  # per process
READ_COUNT = 100_000
READ_RUNS = 5
TAIL_N = 20
CLI_RUNS = 20


def _message(i: int, writer: str = "w0") -> Message:
    return Message(
        "PROGRESS",
        "bench-project",
        body=f"step {i}: compiled the module and ran its unit tests; all green ({writer})",
        task_id="task-20260223-191700-bench",
        run_id="20260223-1917100000-67946-1",
    )


def _append(path: Path, count: int, writer: str) -> tuple[float, float]:
    """Append ``count`` messages; return (start, end) on the system-wide monotonic clock."""
    messages = [_message(i, writer) for i in range(count)]
    with BusWriter(path) as bus:
        start = time.monotonic()
        for msg in messages:
            bus.append(msg)
        return start, time.monotonic()


def _append_worker(path: str, count: int, writer: str, go: Any, out: Any) -> None:
    go.wait()
    out.put(_append(Path(path), count, writer))


def bench_single(work: Path) -> dict[str, float]:
    path = work / "single.md"
    start, end = _append(path, SINGLE_COUNT, "w0")
    got = len(read_all(path))
    return {"msgs_per_s": SINGLE_COUNT / (end - start), "count": got, "seconds": end - start}


def bench_multi(work: Path) -> dict[str, float]:
    path = work / "multi.md"
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_append_worker, args=(str(path), MULTI_COUNT, f"w{i}", go, out))
        for i in range(MULTI_PROCS)
    ]
    for proc in procs:
        proc.start()
    go.set()
    spans = [out.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    messages = read_all(path)
    seconds = max(end for _, end in spans) - min(start for start, _ in spans)
    total = MULTI_PROCS * MULTI_COUNT
    return {
        "msgs_per_s": total / seconds,
        "seconds": seconds,
        "expected": total,
        "count": len(messages),
        "unique_ids": len({m.msg_id for m in messages}),
    }


_READER = textwrap.dedent(
    """
    import json, sys, time
    from conductor_loop.bus.reader import read_all, read_tail
    path, n = sys.argv[1], int(sys.argv[2])
    t0 = time.perf_counter(); c0 = time.process_time()
    count = len(read_all(path))
    read_s, read_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    tail = read_tail(path, n)
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(21):
        t0 = time.perf_counter()
        read_tail(path, n)
        warm.append(time.perf_counter() - t0)
    print(json.dumps({"count": count, "read_s": read_s, "read_cpu_s": read_cpu,
                      "tail_count": len(tail), "tail_cold_s": cold,
                      "tail_warm_s": sorted(warm)[10]}))
    """
)


def _tail_first_in_fresh_process(path: Path) -> float:
    """The first read_tail of a process that has not read the file (imports excluded)."""
    code = (
        "import sys, time; from conductor_loop.bus.reader import read_tail; "
        "t0 = time.perf_counter(); read_tail(sys.argv[1], int(sys.argv[2])); "
        "print(time.perf_counter() - t0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), str(TAIL_N)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout)


def bench_read(work: Path) -> dict[str, Any]:
    path = work / "read.md"
    with BusWriter(path) as bus:
        for i in range(READ_COUNT):
            bus.append(_message(i))
    runs = []
    for _ in range(READ_RUNS):
        out = subprocess.run(
            [sys.executable, "-c", _READER, str(path), str(TAIL_N)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(out.stdout))
    return {
        "bytes": path.stat().st_size,
        "count": runs[0]["count"],
        "tail_count": runs[0]["tail_count"],
        "read_s_median": median([r["read_s"] for r in runs]),
        "read_cpu_s_median": median([r["read_cpu_s"] for r in runs]),
        "tail_warm_s_median": median([r["tail_warm_s"] for r in runs]),
        "tail_after_full_read_s_median": median([r["tail_cold_s"] for r in runs]),
        "tail_first_call_s": _tail_first_in_fresh_process(path),
        "runs": runs,
    }


def _time_cli_posts(root: Path, runs: int, env: dict[str, str]) -> list[float]:
    times = []
    for i in range(runs):
        argv = [str(RUN_AGENT), "bus", "post", "--root", str(root), "--project", "bench"]
        argv += ["--task", "t", "--type", "PROGRESS", "--body", f"post {i}"]
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, stdin=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
    return times


def bench_cli_post(work: Path) -> dict[str, Any]:
    """Wall time of the console script, as installed (bytecode cached after the first
    run) and as this environment runs it when ``PYTHONDONTWRITEBYTECODE`` is set."""
    root = work / "cli-root"
    cached_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached_env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")  # never writes into the tree
    cached = _time_cli_posts(root, CLI_RUNS + 1, cached_env)
    as_is = _time_cli_posts(root, CLI_RUNS, dict(os.environ))
    messages = read_all(root / "bench" / "t" / "TASK-MESSAGE-BUS.md")
    return {
        "first_s": cached[0],
        "median_s": median(cached[1:]),
        "min_s": min(cached[1:]),
        "max_s": max(cached[1:]),
        "no_bytecode_cache_median_s": median(as_is),
        "dont_write_bytecode_in_env": "PYTHONDONTWRITEBYTECODE" in os.environ,
        "count": len(messages),
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-bus-") as tmp:
        work = Path(tmp)
        single = bench_single(work)
        multi = bench_multi(work)
        read = bench_read(work)
        cli = bench_cli_post(work)
    multi_ok = multi["count"] == multi["expected"] == multi["unique_ids"]
    rows = [
        Row(
            "append, 1 process",
            single["msgs_per_s"],
            "msg/s",
            ">= 40,000",
            single["msgs_per_s"] >= 40_000 and single["count"] == SINGLE_COUNT,
            f"{SINGLE_COUNT:,} msgs",
        ),
        Row(
            f"append, {MULTI_PROCS} processes together",
            multi["msgs_per_s"],
            "msg/s",
            ">= 40,000",
            multi["msgs_per_s"] >= 40_000 and multi_ok,
            f"{multi['count']:,}/{multi['expected']:,} read back, {multi['unique_ids']:,} unique",
        ),
        Row(
            f"read+parse {READ_COUNT:,} msgs",
            read["read_s_median"] * 1000,
            "ms",
            "<= 500 ms",
            read["read_s_median"] <= 0.5 and read["count"] == READ_COUNT,
            f"median of {READ_RUNS} fresh processes; CPU {read['read_cpu_s_median'] * 1000:.0f} ms;"
            f" {read['bytes'] / 1e6:.1f} MB",
        ),
        Row(
            f"last {TAIL_N} of them",
            read["tail_warm_s_median"] * 1000,
            "ms",
            "<= 10 ms",
            read["tail_warm_s_median"] <= 0.010 and read["tail_count"] == TAIL_N,
            "median of 21 calls",
        ),
        Row(
            f"last {TAIL_N}, first call in a process",
            read["tail_first_call_s"] * 1000,
            "ms",
            note="cold: first parse, no prior read",
        ),
        Row(
            "run-agent bus post (CLI wall)",
            cli["median_s"] * 1000,
            "ms",
            "<= 100 ms",
            cli["median_s"] <= 0.1 and cli["count"] == 2 * CLI_RUNS + 1,
            f"median of {CLI_RUNS}, bytecode cached; first run {cli['first_s'] * 1000:.0f} ms",
        ),
        Row(
            "  same, without a bytecode cache",
            cli["no_bytecode_cache_median_s"] * 1000,
            "ms",
            note="every module compiled from source (PYTHONDONTWRITEBYTECODE=1)",
        ),
    ]
    return finish("bus", rows, {"single": single, "multi": multi, "read": read, "cli": cli})


if __name__ == "__main__":
    sys.exit(main())
