"""HTTP stack benchmark: our server against an empty ASGI app on the same stack.

Run: ``python -m bench http`` (needs ``wrk``). For one worker and for N (the core
count, ``BENCH_WORKERS``) it measures, with ``wrk``:

- ``GET /api/v1/health``, 2 threads and 50 connections: requests/s;
- ``POST /api/projects/{p}/messages``, 1 thread and 10 connections: requests/s and
  p99, and the messages lost (responses counted by ``wrk`` less the messages on disk);

each on ``conductor`` and on the floor, ``bench.floor_server``: an empty app served
exactly as ``conductor`` serves (the same protocol, loop and worker processes). The
figures are the ratios ours/floor, from the median of ``BENCH_REPS`` interleaved
repetitions, so that they survive a noisy machine. The other stacks considered (uvicorn
with h11 on asyncio, as before; granian when installed) are measured on the empty app
once per repetition too, for the choice of stack.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.report import Row, finish
from bench.serving import Started, clean_env, free_port
from conductor_loop.bus.parser import parse_records

SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
REPS = int(os.environ.get("BENCH_REPS", "3"))
PROJECT = "bench"
POST_SCRIPT = """wrk.method = "POST"
wrk.body = '{"body":"hello from wrk"}'
wrk.headers["Content-Type"] = "application/json"
"""
BIN = Path(sys.executable).parent


def core_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def serve(
    name: str, argv: list[str], work: Path, workers: int, url: str | None = None, app: bool = False
) -> Started:
    """A server started for one measurement, its log in ``work``. ``app``: ours, whose
    app is built after health answers: wait for it and the index too
    (``Started.wait_indexed``) before measuring."""
    started = Started(argv, url, work / f"{name}.log", clean_env(), workers=workers)
    if app:
        try:
            started.wait_indexed()
        except BaseException:
            started.stop()
            raise
    return started


@dataclass
class Figures:
    health: list[float] = field(default_factory=list)
    post: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)


def wrk(args: list[str]) -> str:
    exe = shutil.which("wrk")
    assert exe is not None
    out = subprocess.run(
        [exe, *args], capture_output=True, text=True, check=False, timeout=SECONDS + 60
    )
    return out.stdout


def _rps(out: str) -> float:
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else 0.0


def _p99_ms(out: str) -> float:
    match = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    if not match:
        return float("nan")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    return float(match.group(1)) * scale


def _completed(out: str) -> int:
    match = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return int(match.group(1)) - (int(bad.group(1)) if bad else 0) if match else 0


def messages_on_disk(root: Path) -> int:
    bus = root / PROJECT / "PROJECT-MESSAGE-BUS.md"
    if not bus.exists():
        return 0
    messages, _ = parse_records(bus.read_text(encoding="utf-8", errors="replace"))
    return sum(1 for m in messages if m.body == "hello from wrk")


def measure(server: Started, script: Path, root: Path | None, figures: Figures) -> None:
    duration = f"{SECONDS}s"
    health = wrk(["-t2", "-c50", f"-d{duration}", f"{server.url}/api/v1/health"])
    figures.health.append(_rps(health))
    before = messages_on_disk(root) if root else 0
    post = wrk(
        [
            "-t1",
            "-c10",
            f"-d{duration}",
            "--latency",
            "-s",
            str(script),
            f"{server.url}/api/projects/{PROJECT}/messages",
        ]
    )
    figures.post.append(_rps(post))
    figures.p99.append(_p99_ms(post))
    if root is not None:
        # wrk stops counting at its deadline: up to one request per connection is still
        # answered (and stored) after it, so only a shortfall on disk is a loss. Posts
        # wrk counted are answered after their write: give stragglers a bounded while.
        completed = _completed(post)
        deadline = time.monotonic() + 10
        while messages_on_disk(root) - before < completed and time.monotonic() < deadline:
            time.sleep(0.05)
        figures.lost.append(max(0, completed - (messages_on_disk(root) - before)))


def main() -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed: nothing measured")
        return 0
    workers = int(os.environ.get("BENCH_WORKERS", "0")) or core_count()
    rows: list[Row] = []
    details: dict[str, Any] = {"seconds": SECONDS, "reps": REPS, "workers": workers}
    with tempfile.TemporaryDirectory(prefix="http-bench-") as tmp:
        work = Path(tmp)
        root = work / "runs"
        (root / PROJECT).mkdir(parents=True)
        config = work / "config.yaml"
        config.write_text("{}\n", encoding="utf-8")
        script = work / "post.lua"
        script.write_text(POST_SCRIPT, encoding="utf-8")

        def ours(count: int) -> Started:
            argv = [str(BIN / "conductor"), "--host", "127.0.0.1", "--port", "0"]
            argv += ["--root", str(root), "--config", str(config), "--workers", str(count)]
            return serve(f"conductor-{count}", argv, work, count, app=True)

        def floor(count: int, parser: str = "httptools", loop: str = "uvloop") -> Started:
            argv = [sys.executable, "-m", "bench.floor_server", "--workers", str(count)]
            argv += ["--parser", parser, "--loop", loop]
            return serve(f"floor-{parser}-{loop}-{count}", argv, work, count)

        subjects: dict[str, tuple[Any, bool]] = {
            "ours-1": (lambda: ours(1), True),
            "floor-1": (lambda: floor(1), False),
            f"ours-{workers}": (lambda: ours(workers), True),
            f"floor-{workers}": (lambda: floor(workers), False),
            "floor-h11-asyncio-1": (lambda: floor(1, "h11", "asyncio"), False),
        }
        if shutil.which("granian") or (BIN / "granian").exists():
            granian = shutil.which("granian") or str(BIN / "granian")

            def granian_server() -> Started:
                port = free_port()
                argv = [granian, "--interface", "asgi", "--host", "127.0.0.1"]
                argv += ["--port", str(port), "--workers", "1", "--log-level", "warning"]
                argv += ["bench.floor_server:empty_app"]
                # granian names no worker: one, and its URL is known
                return serve("granian-1", argv, work, 1, f"http://127.0.0.1:{port}")

            subjects["granian-floor-1"] = (granian_server, False)
        results = {name: Figures() for name in subjects}
        for rep in range(REPS):
            for name, (make, on_disk) in subjects.items():
                server = make()
                try:
                    measure(server, script, root if on_disk else None, results[name])
                finally:
                    server.stop()
                print(f"rep {rep + 1}/{REPS} {name}: {_summary(results[name])}", flush=True)

    med = {name: _medians(figures) for name, figures in results.items()}
    details["medians"] = med
    details["all"] = {name: vars(figures) for name, figures in results.items()}
    for count in (1, workers):
        mine, base = med[f"ours-{count}"], med[f"floor-{count}"]
        label = f"{count} worker{'s' if count > 1 else ''}"
        rows.append(
            Row(
                f"health req/s, {label} (ours/floor)",
                100 * mine["health"] / base["health"],
                "%",
                note=f"{mine['health']:,.0f} vs {base['health']:,.0f} req/s; wrk -t2 -c50",
            )
        )
        rows.append(
            Row(
                f"POST messages req/s, {label} (ours/floor)",
                100 * mine["post"] / base["post"],
                "%",
                note=f"{mine['post']:,.0f} vs {base['post']:,.0f} req/s; wrk -t1 -c10",
            )
        )
        rows.append(
            Row(
                f"POST messages p99, {label} (ours/floor)",
                100 * mine["p99"] / base["p99"],
                "%",
                note=f"{mine['p99']:.1f} vs {base['p99']:.1f} ms",
            )
        )
        rows.append(
            Row(
                f"POST messages lost, {label}",
                mine["lost"],
                "msgs",
                "0",
                mine["lost"] == 0,
                "wrk's 2xx responses less the messages found on disk",
            )
        )
    one = med["floor-1"]
    for name in ("floor-h11-asyncio-1", "granian-floor-1"):
        if name in med:
            other = med[name]
            rows.append(
                Row(
                    f"stack: {name} / chosen floor, health",
                    100 * other["health"] / one["health"],
                    "%",
                    note=f"{other['health']:,.0f} vs {one['health']:,.0f} req/s; "
                    f"POST {other['post']:,.0f} vs {one['post']:,.0f} req/s",
                )
            )
    return finish("http", rows, details)


def _medians(figures: Figures) -> dict[str, float]:
    return {
        "health": statistics.median(figures.health),
        "post": statistics.median(figures.post),
        "p99": statistics.median(figures.p99),
        "lost": max(figures.lost) if figures.lost else 0,
    }


def _summary(figures: Figures) -> str:
    text = f"health {figures.health[-1]:,.0f}/s, POST {figures.post[-1]:,.0f}/s"
    text += f" p99 {figures.p99[-1]:.1f} ms"
    if figures.lost:
        text += f", lost {figures.lost[-1]}"
    return text


if __name__ == "__main__":
    sys.exit(main())
