"""Storage benchmark: creating run records in-process (run dir + run-info.yaml, fsync).

Run: ``python -m bench storage``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from bench.report import Row, finish
from conductor_loop.storage.ids import new_run_id
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import RunInfo, iso_utc, read_run_info, write_run_info

RUNS = 2000
TASK = "task-20260223-191700-bench"


def _info(run_id: str, run_dir: Path, work: Path) -> RunInfo:
    return RunInfo(
        run_id=run_id,
        project_id="bench",
        task_id=TASK,
        agent="claude",
        pid=12345,
        pgid=12345,
        start_time=iso_utc(),
        cwd=str(work),
        prompt_path=str(run_dir / "prompt.md"),
        output_path=str(run_dir / "output.md"),
        stdout_path=str(run_dir / "agent-stdout.txt"),
        stderr_path=str(run_dir / "agent-stderr.txt"),
        commandline="claude -p --output-format stream-json",
    )


def bench_run_records(work: Path, *, fsync: bool = True) -> dict[str, float]:
    """Create ``RUNS`` run dirs, each with its run-info.yaml, as the runner does."""
    root = RunsRoot.at(work / ("runs" if fsync else "runs-nofsync"))
    root.ensure_task_dir("bench", TASK)
    start = time.perf_counter()
    for _ in range(RUNS):
        run_id = new_run_id()
        run_dir = root.create_run_dir("bench", TASK, run_id)
        write_run_info(run_dir, _info(run_id, run_dir, work), fsync=fsync)
    seconds = time.perf_counter() - start
    readable = sum(
        1
        for run_id in root.run_ids("bench", TASK)
        if read_run_info(root.run_dir("bench", TASK, run_id))
    )
    return {"runs_per_s": RUNS / seconds, "seconds": seconds, "count": readable}


def bench_disk_floor(work: Path) -> float:
    """The disk alone: write ~700 bytes to a temp file, fsync, rename; per second."""
    data = b"x" * 700
    start = time.perf_counter()
    for i in range(RUNS // 2):
        tmp = work / f".floor-{i}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.replace(tmp, work / f"floor-{i}")
    return (RUNS // 2) / (time.perf_counter() - start)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        work = Path(tmp)
        records = bench_run_records(work)
        no_fsync = bench_run_records(work, fsync=False)
        floor = bench_disk_floor(work)
    rows = [
        Row(
            "run record create (dir + run-info, fsync)",
            records["runs_per_s"],
            "runs/s",
            ">= 1,500",
            records["runs_per_s"] >= 1500 and records["count"] == RUNS,
            f"{RUNS:,} runs, {records['count']:,} read back",
        ),
        Row("  same, without fsync", no_fsync["runs_per_s"], "runs/s", note="code cost alone"),
        Row("  disk floor: write + fsync + rename", floor, "files/s", note="no Python work"),
    ]
    details = {"run_records": records, "run_records_no_fsync": no_fsync, "disk_floor_per_s": floor}
    return finish("storage", rows, details)


if __name__ == "__main__":
    sys.exit(main())
