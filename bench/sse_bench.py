"""Output line appended → SSE event, and message posted → SSE event, against a floor.

Run: ``python -m bench sse``. One ``conductor`` over a small runs root; a client
follows a running run's stream while lines are appended to its agent-stdout.txt, and a
project's message stream while messages are posted, and while another process (this
one) appends to the project's bus file directly. The floor is the kernel's part:
a thread blocked on inotify for the same kind of append, woken in this process.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.api_bench import EventTimes, message_latency, output_latency, pct
from bench.gen_runs import generate
from bench.report import Row, finish
from bench.serving import start_conductor
from conductor_loop.bus import BusWriter, Message
from conductor_loop.storage import inotify
from conductor_loop.storage.layout import RunsRoot

SAMPLES = 200


def inotify_floor(work: Path, samples: int = SAMPLES) -> list[float]:
    """Milliseconds from an append to a thread blocked on inotify waking up."""
    if not inotify.available():
        return []
    folder = work / "floor"
    folder.mkdir()
    target = folder / "agent-stdout.txt"
    target.touch()
    watch = inotify.Inotify()
    watch.add(str(folder))
    woke = threading.Event()
    stop = threading.Event()
    seen: list[float] = []

    def waiter() -> None:
        while not stop.is_set():
            if str(target) in watch.read(0.2):
                seen.append(time.perf_counter())
                woke.set()

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    latencies = []
    with open(target, "a", buffering=1, encoding="utf-8") as out:
        for i in range(samples):
            woke.clear()
            sent = time.perf_counter()
            out.write(f"probe {i}\n")
            if woke.wait(2):
                latencies.append((seen[-1] - sent) * 1000)
            time.sleep(0.005)
    stop.set()
    thread.join()
    watch.close()
    return latencies


def external_message_latency(url: str, root: RunsRoot, samples: int = SAMPLES) -> list[float]:
    """Milliseconds from a bus append by another process to the project's SSE event.

    The file watcher's path (no POST to the server): tests only check that it arrives.
    """
    reader = EventTimes(
        f"{url}/api/projects/project-02/messages/stream?tail=1",
        "message",
        re.compile(r"external (\d+)"),
    )
    time.sleep(0.2)
    sent: dict[int, float] = {}
    with BusWriter(root.project_bus("project-02")) as writer:
        for i in range(samples):
            sent[i] = time.perf_counter()
            writer.append(Message(type="INFO", project_id="project-02", body=f"external {i}"))
            time.sleep(0.01)
    return reader.latencies(sent)


def main() -> int:
    details: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sse-") as tmp:
        work = Path(tmp)
        root = RunsRoot.at(work / "runs")
        generate(root.path, 300, projects=3, tasks=2)
        floor = inotify_floor(work)
        server = start_conductor(root.path, work)
        try:
            server.wait_indexed()
            time.sleep(1.0)  # the watcher settles on the new directories
            out = output_latency(server, root, SAMPLES)
            msg = message_latency(server, SAMPLES)
            ext = external_message_latency(server.url, root, SAMPLES)
        finally:
            server.stop()
    details.update(
        floor_ms=floor, output_ms=out, message_ms=msg, external_ms=ext, load=os.getloadavg()[0]
    )
    floor_p50 = statistics.median(floor) if floor else 0.0
    out_p50 = statistics.median(out)
    ratio = f"{out_p50 / floor_p50:.1f}x floor; " if floor_p50 else ""
    rows = [
        Row("floor: append -> inotify wake-up p50", floor_p50, "ms", note=f"{len(floor)} samples"),
        Row(
            "output line -> SSE event p50",
            out_p50,
            "ms",
            "<= 2.0 ms (Go)",
            out_p50 <= 2.0,
            f"{ratio}p99 {pct(out, 0.99):.2f} ms; {len(out)}/{SAMPLES} samples",
        ),
        Row(
            "message post -> SSE event p50",
            statistics.median(msg),
            "ms",
            note=f"includes the POST; p99 {pct(msg, 0.99):.2f} ms",
        ),
        Row(
            "bus append by another process -> SSE event p50",
            statistics.median(ext) if ext else 0.0,
            "ms",
            note=f"the file watcher's path; p99 {pct(ext, 0.99) if ext else 0.0:.2f} ms; "
            f"{len(ext)}/{SAMPLES} samples",
        ),
    ]
    return finish("sse", rows, details)


if __name__ == "__main__":
    sys.exit(main())
