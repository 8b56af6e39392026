"""Bus writes under concurrency: group commit against the bare system calls.

Run: ``python -m bench buswrite``. Ten threads post at once, with and without fsync:

- floor: each message is ``open``, ``flock``, ``write``, (``fsync``), ``close`` in a loop
  (the bare system calls of one append each, no Python record building);
- ``append_message`` per message (what the server did before group commit);
- ``GroupCommitter`` (what the server does now: one locked write and fsync per batch);
- the real server: ``wrk -t1 -c10`` POSTing to /api/projects/{p}/messages, checking that
  every 201 is in the bus (none lost).

Each figure is also given as a ratio to the floor measured in the same run.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import Row, finish
from bench.serving import start_conductor
from conductor_loop.bus import Message, read_all
from conductor_loop.bus.group import GroupCommitter
from conductor_loop.bus.message import format_record
from conductor_loop.bus.writer import append_message
from conductor_loop.storage.layout import RunsRoot

THREADS = 10
PER_THREAD = 300
WRK_SECONDS = 5
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"body": "step done: compiled the module and ran its tests"}'
wrk.headers["Content-Type"] = "application/json"
"""


def _message(writer: str, i: int) -> Message:
    return Message(
        "PROGRESS",
        "bench-project",
        body=f"step {i}: compiled the module and ran its unit tests; all green ({writer})",
        task_id="task-20260223-191700-bench",
        meta={"writer": writer},
    )


def _threads(post: Callable[[str, int], object]) -> float:
    """Messages per second with THREADS threads posting PER_THREAD each, all at once."""
    go = threading.Barrier(THREADS + 1)

    def worker(name: str) -> None:
        go.wait()
        for i in range(PER_THREAD):
            post(name, i)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    go.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return THREADS * PER_THREAD / (time.perf_counter() - started)


def floor(path: Path, fsync: bool) -> float:
    record = format_record(_message("w0", 0)).encode()

    def post(_name: str, _i: int) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, record)
            if fsync:
                os.fsync(fd)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    return _threads(post)


def per_message(path: Path, fsync: bool) -> float:
    return _threads(lambda name, i: append_message(path, _message(name, i), fsync=fsync) and None)


def grouped(path: Path, fsync: bool) -> tuple[float, int]:
    committer = GroupCommitter(path, fsync=fsync)
    rate = _threads(lambda name, i: committer.append(_message(name, i)) and None)
    return rate, committer.batches


def check(path: Path) -> bool:
    messages = read_all(path)
    return len(messages) == THREADS * PER_THREAD == len({m.msg_id for m in messages})


def wrk_posts(work: Path, fsync: bool) -> dict[str, Any]:
    exe = shutil.which("wrk")
    if exe is None:
        return {}
    root = RunsRoot.at(work / f"runs-{fsync}")
    root.ensure_task_dir("bench", "task")
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    config = f"storage:\n  bus_fsync: {'true' if fsync else 'false'}\n"
    server = start_conductor(root.path, work, config)
    try:
        server.wait_indexed()
        out = subprocess.run(
            [exe, "-t1", "-c10", f"-d{WRK_SECONDS}s", "--latency", "-s", str(script),
             f"{server.url}/api/projects/bench/messages"],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
    finally:
        server.stop()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    stored = len(read_all(root.project_bus("bench")))
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "answered": int(total.group(1)) if total else 0,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "stored": stored,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else 0.0,
    }


def main() -> int:
    rows: list[Row] = []
    details: dict[str, Any] = {"threads": THREADS, "per_thread": PER_THREAD}
    with tempfile.TemporaryDirectory(prefix="bench-buswrite-") as tmp:
        work = Path(tmp)
        for fsync in (False, True):
            tag = "fsync" if fsync else "no fsync"
            base = floor(work / f"floor-{fsync}.md", fsync)
            old = per_message(work / f"old-{fsync}.md", fsync)
            new, batches = grouped(work / f"group-{fsync}.md", fsync)
            ok = check(work / f"group-{fsync}.md") and check(work / f"old-{fsync}.md")
            details[tag] = {"floor": base, "per_message": old, "group": new, "batches": batches}
            rows.append(Row(f"floor: bare syscalls, {THREADS} threads, {tag}", base, "msg/s"))
            rows.append(
                Row(
                    f"  append_message per post, {tag}",
                    old,
                    "msg/s",
                    note=f"{old / base:.2f}x floor",
                )
            )
            rows.append(
                Row(
                    f"  group commit, {tag}",
                    new,
                    "msg/s",
                    ">= 1.0x floor" if fsync else ">= 0.5x floor",
                    ok and new >= (base if fsync else base / 2),
                    f"{new / base:.2f}x floor; {batches} batches for "
                    f"{THREADS * PER_THREAD} msgs; all read back once: {ok}",
                )
            )
            posted = wrk_posts(work, fsync)
            details[f"wrk {tag}"] = posted
            if not posted:
                rows.append(Row(f"  POST messages wrk -c10, {tag}", 0, "req/s", note="no wrk"))
                continue
            lost = posted["answered"] - posted["stored"]
            rows.append(
                Row(
                    f"  POST messages wrk -t1 -c10, {tag}",
                    posted["rps"],
                    "req/s",
                    "0 lost",
                    lost <= 0 and posted["non_2xx"] == 0,
                    f"{posted['rps'] / base:.2f}x floor; p99 {posted['p99_ms']:.1f} ms; "
                    f"{posted['answered']} answered, {posted['stored']} stored, "
                    f"{posted['non_2xx']} errors",
                )
            )
    return finish("buswrite", rows, details)


if __name__ == "__main__":
    sys.exit(main())
