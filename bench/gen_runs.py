"""Generate N finished runs on disk, shaped like the runner's (for API benchmarks).

``python -m bench.gen_runs ROOT [N] [--projects P] [--tasks T]`` spreads N runs over
P projects × T tasks; each run has a full run-info.yaml, a prompt and a short stdout.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from conductor_loop.storage.ids import new_run_id
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import RunInfo, iso_utc, write_run_info
from conductor_loop.storage.usage import Usage


def generate(root: Path, runs: int, *, projects: int = 10, tasks: int = 10) -> list[str]:
    """Create ``runs`` runs; returns their ids (oldest first)."""
    runs_root = RunsRoot.at(root)
    per_task = max(1, runs // (projects * tasks))
    ids: list[str] = []
    now = iso_utc()
    for p in range(projects):
        project_id = f"project-{p:02d}"
        for t in range(tasks):
            if len(ids) >= runs:
                return ids
            task_id = f"task-20260223-191700-bench-{t:02d}"
            task_dir = runs_root.ensure_task_dir(project_id, task_id)
            (task_dir / "TASK.md").write_text("benchmark task\n", encoding="utf-8")
            if t % 2 == 0:
                (task_dir / "DONE").touch()
            previous = ""
            count = per_task if (p, t) != (projects - 1, tasks - 1) else runs - len(ids)
            for i in range(count):
                run_id = new_run_id()
                run_dir = runs_root.create_run_dir(project_id, task_id, run_id)
                (run_dir / "prompt.md").write_text("prompt\n", encoding="utf-8")
                (run_dir / "agent-stdout.txt").write_text(f"line {i}\n", encoding="utf-8")
                info = RunInfo(
                    run_id=run_id,
                    project_id=project_id,
                    task_id=task_id,
                    previous_run_id=previous,
                    agent="claude",
                    pid=40000 + i,
                    pgid=40000 + i,
                    status="completed" if i % 7 else "failed",
                    start_time=now,
                    end_time=now,
                    exit_code=0 if i % 7 else 1,
                    cwd=str(root),
                    prompt_path=str(run_dir / "prompt.md"),
                    output_path=str(run_dir / "output.md"),
                    stdout_path=str(run_dir / "agent-stdout.txt"),
                    stderr_path=str(run_dir / "agent-stderr.txt"),
                    commandline="claude -p --input-format text --output-format stream-json",
                    host=os.uname().nodename,
                    usage=Usage(1200 + i, 35, 1000, round((200 + i) * 3e-6 + 35 * 15e-6, 6)),
                )
                write_run_info(run_dir, info, fsync=False)
                ids.append(run_id)
                previous = run_id
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("runs", type=int, nargs="?", default=10_000)
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=10)
    args = parser.parse_args()
    ids = generate(args.root, args.runs, projects=args.projects, tasks=args.tasks)
    print(f"wrote {len(ids)} runs under {args.root}")


if __name__ == "__main__":
    main()
