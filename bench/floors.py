"""Floors for start-up benchmarks: the cost of starting this Python at all, measured in the
same run and the same way as the command under test, so that a figure can be read as a
ratio that survives a busy machine.

``Timer`` runs commands interleaved (one of each per round) so that load that comes and
goes hits every command alike; the floors are ``python -c pass`` (with site, as a console
script starts) and ``python -S -c pass`` (without). Child processes get a bytecode cache
of their own (``PYTHONPYCACHEPREFIX``), as an installed package would have one, and
``PYTHONDONTWRITEBYTECODE`` removed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

FLOOR = "python -c pass"
FLOOR_NO_SITE = "python -S -c pass"
PYTHON = sys.executable  # the venv's interpreter, as the console scripts use


def child_env(pycache: Path, **extra: str) -> dict[str, str]:
    """The environment for timed children: bytecode cached under ``pycache``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env.update(extra)
    return env


def floor_commands() -> dict[str, list[str]]:
    return {FLOOR: [PYTHON, "-c", "pass"], FLOOR_NO_SITE: [PYTHON, "-S", "-c", "pass"]}


def run_once(argv: Sequence[str], env: dict[str, str], stdin: bytes | None = None) -> float:
    """Wall seconds of one run to completion; a failure raises, naming the command."""
    start = time.perf_counter()
    proc = subprocess.run(
        list(argv),
        env=env,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()}")
    return elapsed


class Timer:
    """Times named commands over interleaved rounds; a command is an argv (run to
    completion) or a callable returning the seconds it measured itself."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.samples: dict[str, list[float]] = {}

    def rounds(
        self,
        commands: dict[str, Sequence[str] | Callable[[], float]],
        rounds: int,
        *,
        warmup: int = 2,
    ) -> None:
        for index in range(warmup + rounds):
            for name, command in commands.items():
                seconds = command() if callable(command) else run_once(command, self.env)
                if index >= warmup:
                    self.samples.setdefault(name, []).append(seconds)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def ratio(self, name: str, floor: str = FLOOR) -> float:
        return self.median(name) / self.median(floor)

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "median_s": statistics.median(values),
                "min_s": min(values),
                "max_s": max(values),
                "runs": len(values),
            }
            for name, values in self.samples.items()
        }


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f} (1/5 min) on {os.cpu_count()} CPUs"
