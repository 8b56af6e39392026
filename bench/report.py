"""Shared output for benchmarks: a results table on stdout and JSON under bench/results/."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass
class Row:
    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None  # None: reported only, no target
    note: str = ""


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def print_table(rows: Sequence[Row]) -> None:
    width = max(len(r.name) for r in rows)
    print(f"{'benchmark':{width}}  {'result':>16}  {'target':>14}  ok   note")
    for r in rows:
        value = f"{r.value:,.1f} {r.unit}" if r.value < 1000 else f"{r.value:,.0f} {r.unit}"
        ok = "-" if r.ok is None else ("yes" if r.ok else "NO")
        print(f"{r.name:{width}}  {value:>16}  {r.target:>14}  {ok:3}  {r.note}")


def write_results(name: str, rows: Sequence[Row], details: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    data = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_avg_1m": os.getloadavg()[0],
        },
        "rows": [asdict(r) for r in rows],
        "details": details,
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def finish(name: str, rows: Sequence[Row], details: dict[str, Any]) -> int:
    """Print, save, and return the exit status (1 if a target was missed)."""
    print_table(rows)
    path = write_results(name, rows, details)
    print(f"load average (1 min) {os.getloadavg()[0]:.2f}; results in {path}")
    return 0 if all(r.ok is not False for r in rows) else 1
