"""Runner benchmarks: ``run-agent job`` overhead with a no-op agent, and the concurrency
limit under load (20 jobs, ``max_concurrent_runs: 4``).

Run: ``python -m bench runner`` (or ``python bench/runner_bench.py``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
RUN_AGENT = Path(sys.executable).parent / "run-agent"

# A no-op "claude": prints one result event, as the real CLI ends its stream.
NOOP_AGENT = """#!/bin/sh
[ "$1" = --version ] && echo "2.0.0 (Claude Code)" && exit 0
cat > /dev/null
echo '{"type":"result","subtype":"success","is_error":false,"result":"ok"}'
"""

# The runner asks `--version` once per executable (cached); answered at once, as the
# real CLIs do, so that only real runs are logged as intervals.
INTERVAL_AGENT = """#!/bin/sh
[ "$1" = --version ] && echo "2.0.0 (Claude Code)" && exit 0
cat > /dev/null
echo "start $(date +%s.%N)" >> "{log}"
sleep 0.3
echo "end $(date +%s.%N)" >> "{log}"
echo '{{"type":"result","subtype":"success","is_error":false,"result":"ok"}}'
"""


def _write_exe(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def _config(path: Path, agent: Path, **defaults: object) -> Path:
    lines = [
        "agents:",
        "  claude:",
        "    type: claude",
        f"    command: {agent}",
        "defaults:",
        "  agent: claude",
    ]
    lines += [f"  {k}: {v}" for k, v in defaults.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _env(root: Path, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JRUN_", "CONDUCTOR_"))}
    env.update(CONDUCTOR_ROOT=str(root), CONDUCTOR_CONFIG=str(config))
    return env


def bench_job_overhead(work: Path, repeats: int = 15) -> dict[str, float]:
    agent = _write_exe(work / "noop-claude", NOOP_AGENT)
    config = _config(work / "config.yaml", agent)
    env = _env(work / "runs", config)
    agent_times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([str(agent)], input=b"prompt", capture_output=True, check=True)
        agent_times.append(time.perf_counter() - started)
    job_times = []
    for i in range(repeats + 1):
        started = time.perf_counter()
        subprocess.run(
            [str(RUN_AGENT), "job", "--project", "bench", "--task", f"t{i}", "--prompt", "noop"],
            env=env,
            capture_output=True,
            check=True,
        )
        if i:  # the first run fills the agent-version cache
            job_times.append(time.perf_counter() - started)
    agent_ms = statistics.median(agent_times) * 1000
    job_ms = statistics.median(job_times) * 1000
    return {
        "agent_ms_p50": agent_ms,
        "job_wall_ms_p50": job_ms,
        "overhead_ms_p50": job_ms - agent_ms,
    }


def bench_concurrency_limit(work: Path, jobs: int = 20, limit: int = 4) -> dict[str, float]:
    log = work / "intervals.log"
    agent = _write_exe(work / "interval-claude", INTERVAL_AGENT.format(log=log))
    config = _config(work / "config-limit.yaml", agent, max_concurrent_runs=limit)
    env = _env(work / "runs-limit", config)
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [str(RUN_AGENT), "job", "--project", "bench", "--task", f"c{i}", "--prompt", "x"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(jobs)
    ]
    failures = sum(1 for p in procs if p.wait() != 0)
    wall = time.perf_counter() - started
    events = sorted(
        (float(ts), kind) for kind, ts in (line.split() for line in log.read_text().splitlines())
    )
    running = peak = 0
    for _ts, kind in events:
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    return {
        "jobs": jobs,
        "limit": limit,
        "peak_concurrent": peak,
        "failures": failures,
        "wall_s": wall,
    }


def main() -> int:
    # What `make` does at install: without bytecode every start recompiles our modules.
    import compileall

    compileall.compile_dir(Path(__file__).parent.parent / "src", quiet=1)
    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp:
        work = Path(tmp)
        overhead = bench_job_overhead(work)
        limit = bench_concurrency_limit(work)
    rows = [
        (
            "run-agent job overhead (p50)",
            f"{overhead['overhead_ms_p50']:.0f} ms",
            "<= 150 ms",
            overhead["overhead_ms_p50"] <= 150,
        ),
        (
            "  job wall / no-op agent (p50)",
            f"{overhead['job_wall_ms_p50']:.0f} / {overhead['agent_ms_p50']:.1f} ms",
            "",
            True,
        ),
        (
            f"{limit['jobs']} jobs, limit {limit['limit']}: peak concurrent",
            str(limit["peak_concurrent"]),
            f"<= {limit['limit']}",
            limit["peak_concurrent"] <= limit["limit"] and not limit["failures"],
        ),
    ]
    print(f"{'benchmark':44} {'result':>18} {'target':>12}  ok")
    for name, value, target, ok in rows:
        print(f"{name:44} {value:>18} {target:>12}  {'yes' if ok else 'NO'}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "runner.json").write_text(
        json.dumps({"job_overhead": overhead, "concurrency": limit}, indent=2)
    )
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
