"""Starting a server process for a benchmark and timing it to its first healthy answer.

``start_conductor`` runs the real ``conductor``; ``start_floor`` runs the floor: an
empty ASGI app (200 ``{"status":"ok"}`` for any path) under the same server (uvicorn),
started the same way, so that start-up and memory can be reported as ratios to what
merely starting a Python ASGI server costs on this machine at this moment.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

FLOOR_APP = """
import sys, uvicorn
from bench.floor_server import empty_app

uvicorn.run(empty_app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Memory:
    """MB. ``rss``/``uss``/``pss``: summed over the workers; ``supervisor``: (rss, uss,
    pss) of the parent of several workers (zeros for one process)."""

    rss: float
    uss: float
    pss: float
    workers: int
    supervisor: tuple[float, float, float]


def _memory(process: psutil.Process) -> tuple[float, float, float]:
    full = process.memory_full_info()
    return full.rss / 1e6, full.uss / 1e6, full.pss / 1e6


_LISTENING = re.compile(r"listening on (http://[\d.]+:\d+)")
WORKER_HEADER = "x-conductor-worker"


class Started:
    """A server process, the seconds from spawn to its first 200 on health, its URL.

    ``url`` None: read from the "listening on URL" line of its log (``--port 0``).
    ``workers`` above 1: also wait until that many worker processes have answered (each
    names itself in ``X-Conductor-Worker``), so that a measurement meets them all started.
    """

    def __init__(
        self,
        argv: list[str],
        url: str | None,
        log_path: Path,
        env: dict[str, str],
        *,
        workers: int = 1,
    ) -> None:
        started = self.spawned_at = time.perf_counter()
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # its workers go down with it (see stop)
            )
        self.url = url or self._announced_url(log_path)
        with httpx.Client(timeout=5) as client:
            while True:
                try:
                    if client.get(f"{self.url}/api/v1/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if self.proc.poll() is not None or time.perf_counter() - started > 120:
                    raise RuntimeError(f"server did not start:\n{log_path.read_text()}")
                time.sleep(0.002)
        self.healthy_at = time.perf_counter()
        self.startup_seconds = self.healthy_at - started
        self.process = psutil.Process(self.proc.pid)
        self.workers = workers
        if workers > 1:
            self._wait_workers(workers)

    def _announced_url(self, log_path: Path, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = _LISTENING.search(log_path.read_text(errors="replace"))
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.002)
        raise RuntimeError(f"server did not say where it listens:\n{log_path.read_text()}")

    def _wait_workers(self, workers: int, timeout: float = 60) -> None:
        """Until ``workers`` distinct workers answered health, each on a new connection
        (the kernel hands new connections to whichever worker accepts first)."""
        seen: set[str] = set()
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5, headers={"Connection": "close"}) as client:
            while len(seen) < workers:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {len(seen)} of {workers} workers answered")
                response = client.get(f"{self.url}/api/v1/health")
                if WORKER_HEADER in response.headers:
                    seen.add(response.headers[WORKER_HEADER])
                else:
                    time.sleep(0.002)

    def wait_indexed(self, timeout: float = 300) -> tuple[float, float]:
        """Seconds from spawn to the app's first answer (a run list waits for the app;
        health does not) and to the moment every worker listed runs not partially (its
        index is whole). A benchmark of the app waits for this first: health alone is not
        "ready". Each request goes on a new connection, to reach every worker."""
        deadline = time.monotonic() + timeout
        ready = 0.0
        indexed: set[str] = set()
        with httpx.Client(base_url=self.url, timeout=60, headers={"Connection": "close"}) as client:
            while time.monotonic() < deadline:
                response = client.get("/api/v1/runs", params={"limit": 1})
                if response.status_code == 200:
                    now = time.perf_counter() - self.spawned_at
                    ready = ready or now
                    if response.json().get("partial") is False:
                        indexed.add(response.headers.get(WORKER_HEADER, "the only one"))
                        if len(indexed) >= self.workers:
                            return ready, now
                        continue
                time.sleep(0.005)
        raise RuntimeError("the server's index did not complete")

    def rss_mb(self) -> float:
        return float(self.process.memory_info().rss) / 1e6

    def memory(self) -> Memory:
        """RSS, USS and PSS (MB) of the server: its worker processes (children, with
        ``--workers`` above 1) summed, and the supervisor's separately."""
        workers = self.process.children() or [self.process]
        parent = self.process if workers != [self.process] else None
        figures = [_memory(p) for p in workers]
        return Memory(
            rss=sum(f[0] for f in figures),
            uss=sum(f[1] for f in figures),
            pss=sum(f[2] for f in figures),
            workers=len(workers),
            supervisor=_memory(parent) if parent is not None else (0.0, 0.0, 0.0),
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDUCTOR_", "JRUN_"))}
    env.update(extra)
    return env


def start_conductor(
    root: Path, work: Path, config_text: str = "{}\n", *, workers: int | None = None
) -> Started:
    """``workers``: ``--workers`` (default: the server's own, one per core)."""
    config = work / "bench-config.yaml"
    config.write_text(config_text, encoding="utf-8")
    port = free_port()
    exe = Path(sys.executable).with_name("conductor")
    argv = [str(exe), "--host", "127.0.0.1", "--port", str(port), "--root", str(root)]
    argv += ["--config", str(config)]
    if workers is not None:
        argv += ["--workers", str(workers)]
    count = workers or 1
    return Started(
        argv, f"http://127.0.0.1:{port}", work / "conductor.log", clean_env(), workers=count
    )


def start_floor(work: Path) -> Started:
    port = free_port()
    argv = [sys.executable, "-c", FLOOR_APP, str(port)]
    return Started(argv, f"http://127.0.0.1:{port}", work / "floor.log", clean_env())
