"""CLI start-up benchmarks, each figure also a ratio to floors measured in the same run
(``bench.floors``): ``run-agent --help``, ``run-agent bus post`` one call at a time and
from 10 processes at once, and ``run-agent job`` until its agent process starts.

``bus post`` is measured twice: through the console script (as a user types it) and
through the launcher a run puts first on its agent's PATH (``runner.agent_launcher``:
the same CLI, Python started without ``site``), which is what agents run.

Run: ``python -m bench cli``. Targets (issue 13) are for a 2-core machine; the Go tool's
10 × 30 posts took 0.74 s there.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.floors import FLOOR, FLOOR_NO_SITE, Timer, child_env, floor_commands, load_note
from bench.report import Row, finish
from conductor_loop.bus import read_all
from conductor_loop.runner.agent_launcher import LAUNCHER_NAME, agent_launcher_dir

RUN_AGENT = str(Path(sys.executable).parent / "run-agent")
ROUNDS, WARMUP = 30, 2
WALL_PROCS, WALL_POSTS, WALL_REPS = 10, 30, 3
GO_WALL_S = 0.74  # 10 × 30 posts, the Go tool on the same machine (issue 13)
JOB_ROUNDS = 10


def _wall(argv_for: Callable[[int, int], list[str]], env: dict[str, str]) -> float:
    """Wall seconds for WALL_PROCS threads each running WALL_POSTS commands in turn."""
    import subprocess

    errors: list[str] = []

    def worker(proc: int) -> None:
        for post in range(WALL_POSTS):
            done = subprocess.run(
                argv_for(proc, post), env=env, capture_output=True, stdin=subprocess.DEVNULL
            )
            if done.returncode != 0:
                errors.append(done.stderr.decode())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WALL_PROCS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} commands failed, first: {errors[0]}")
    return elapsed


def _fake_agent_bin(work: Path, mark: Path) -> Path:
    """A ``claude`` that notes when it started (bash's $EPOCHREALTIME, no fork) and then
    becomes the test suite's fake agent."""
    from tests.fakes import FAKE_AGENT

    bin_dir = work / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "claude"
    wrapper.write_text(
        "#!/bin/bash\n"
        f"printf '%s\\n' \"$EPOCHREALTIME\" > {shlex.quote(str(mark))}\n"
        "export FAKE_AGENT_FLAVOR=claude\n"
        f'exec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_AGENT))} "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    return bin_dir


def _job_timer(work: Path, env: dict[str, str]) -> tuple[Callable[[], float], dict[str, Any]]:
    """A command for ``Timer``: one ``run-agent job``, measured from its start until the
    agent's process starts (the rest of the job is the agent's own time)."""
    import subprocess

    from tests.fakes import fake_agents_config_text

    mark = work / "agent-started"
    bin_dir = _fake_agent_bin(work, mark)
    config = work / "config.yaml"
    config.write_text(fake_agents_config_text(bin_dir, agents=("claude",), token="tok-bench"))
    job_env = {k: v for k, v in env.items() if not k.startswith(("JRUN_", "CONDUCTOR_"))}
    job_env |= {"CONDUCTOR_CONFIG": str(config), "CONDUCTOR_ROOT": str(work / "job-runs")}
    argv = [RUN_AGENT, "job", "--project", "bench", "--task", "job", "--prompt", "hi"]
    totals: list[float] = []

    def one() -> float:
        mark.unlink(missing_ok=True)
        start_wall, start = time.time(), time.perf_counter()
        done = subprocess.run(argv, env=job_env, capture_output=True, stdin=subprocess.DEVNULL)
        totals.append(time.perf_counter() - start)
        if done.returncode != 0 or not mark.exists():
            raise RuntimeError(f"run-agent job failed ({done.returncode}): {done.stderr!r}")
        return float(mark.read_text()) - start_wall

    return one, {"job_total_s": totals}


def main() -> int:
    if shutil.which("bash") is None:
        print("bash is needed for the job start-up figure")
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        work = Path(tmp)
        task_dir = work / "runs" / "bench" / "t"
        task_dir.mkdir(parents=True)
        bus = task_dir / "TASK-MESSAGE-BUS.md"
        # As inside a run: the environment says where the bus is.
        env = child_env(
            work / "pycache",
            JRUN_MESSAGE_BUS=str(bus),
            JRUN_PROJECT_ID="bench",
            JRUN_TASK_ID="t",
            JRUN_ID="20260223-1917100000-67946-1",
        )
        timer = Timer(env)
        launcher_dir = agent_launcher_dir(work / "state")
        if launcher_dir is None:
            raise RuntimeError(f"no agents' launcher can start {sys.executable}")
        launcher = str(Path(launcher_dir, LAUNCHER_NAME))
        post = [RUN_AGENT, "bus", "post", "--type", "PROGRESS", "--body", "step done"]
        job, job_details = _job_timer(work, env)
        timer.rounds(
            {
                **floor_commands(),
                "run-agent --help": [RUN_AGENT, "--help"],
                "run-agent bus post": post,
                "agents' bus post": [launcher, *post[1:]],
            },
            ROUNDS,
            warmup=WARMUP,
        )
        timer.rounds({FLOOR: floor_commands()[FLOOR], "run-agent job": job}, JOB_ROUNDS)
        posted = len(read_all(bus))

        def posts(proc: int, i: int) -> list[str]:
            return [RUN_AGENT, "bus", "post", "--body", f"writer {proc} post {i}"]

        def agents_posts(proc: int, i: int) -> list[str]:
            return [launcher, "bus", "post", "--body", f"agent {proc} post {i}"]

        wall_bus = work / "runs" / "bench" / "wall" / "TASK-MESSAGE-BUS.md"
        wall_env = env | {"JRUN_MESSAGE_BUS": str(wall_bus), "JRUN_TASK_ID": "wall"}
        passes = floor_commands()[FLOOR]
        walls = Timer(wall_env)
        walls.rounds(
            {
                f"{WALL_PROCS} × {WALL_POSTS} {FLOOR}": lambda: _wall(lambda p, i: passes, env),
                f"{WALL_PROCS} × {WALL_POSTS} bus post": lambda: _wall(posts, wall_env),
                f"{WALL_PROCS} × {WALL_POSTS} agents' bus post": lambda: _wall(
                    agents_posts, wall_env
                ),
            },
            WALL_REPS,
            warmup=0,
        )
        wall_msgs = read_all(wall_bus)
    return _report(timer, walls, posted, wall_msgs, job_details)


def _report(
    timer: Timer, walls: Timer, posted: int, wall_msgs: list[Any], job: dict[str, Any]
) -> int:
    ms = 1000.0
    floor, no_site = timer.median(FLOOR), timer.median(FLOOR_NO_SITE)

    def ratios(name: str) -> str:
        return f"{timer.ratio(name):.2f}× pass, {timer.median(name) / no_site:.2f}× -S pass"

    help_s, job_s = (timer.median(n) for n in ("run-agent --help", "run-agent job"))
    wall_floor_name = next(iter(walls.samples))
    wall_floor_s = walls.median(wall_floor_name)
    # Each post command ran in the warm-up rounds too; the console script's and the
    # agents' launcher's posts share one bus.
    expected_posts = 2 * (WARMUP + ROUNDS)
    wall_expected = WALL_PROCS * WALL_POSTS * WALL_REPS

    def post_row(label: str, name: str) -> Row:
        post_s = timer.median(name)
        return Row(
            label,
            post_s * ms,
            "ms",
            "<= 25 ms, 2× pass",
            post_s <= 0.025 and post_s <= 2 * floor and posted == expected_posts,
            f"{ratios(name)}; $JRUN_* say where; {posted}/{expected_posts} posted",
        )

    def wall_row(label: str, name: str, body_prefix: str) -> Row:
        wall_s = walls.median(name)
        ids = [m.msg_id for m in wall_msgs if m.body.startswith(body_prefix)]
        ok = len(ids) == wall_expected == len(set(ids))
        return Row(
            label,
            wall_s * ms,
            "ms",
            f"<= {4 * GO_WALL_S * ms:,.0f} ms",
            wall_s <= 4 * GO_WALL_S and ok,
            f"{wall_s / wall_floor_s:.2f}× the same of pass ({wall_floor_s * ms:,.0f} ms); "
            f"{wall_s / GO_WALL_S:.1f}× Go; {len(ids)}/{wall_expected} read back, "
            f"median of {WALL_REPS}",
        )

    wall_console, wall_agents = list(walls.samples)[1:]
    rows = [
        Row(f"floor: {FLOOR}", floor * ms, "ms", note=f"median of {ROUNDS}+{JOB_ROUNDS}"),
        Row(f"floor: {FLOOR_NO_SITE}", no_site * ms, "ms", note=f"median of {ROUNDS}"),
        Row(
            "run-agent --help",
            help_s * ms,
            "ms",
            "<= 60 ms",
            help_s <= 0.060,
            ratios("run-agent --help"),
        ),
        post_row("run-agent bus post, per call (console script)", "run-agent bus post"),
        post_row("bus post as agents run it (launcher), per call", "agents' bus post"),
        wall_row(
            f"{WALL_PROCS} procs × {WALL_POSTS} bus post (console script)", wall_console, "writer"
        ),
        wall_row(
            f"{WALL_PROCS} procs × {WALL_POSTS} bus post as agents run it", wall_agents, "agent"
        ),
        Row(
            "run-agent job, until the agent starts",
            job_s * ms,
            "ms",
            note=f"{ratios('run-agent job')}; whole job (fake agent) "
            f"{sorted(job['job_total_s'])[len(job['job_total_s']) // 2] * ms:,.0f} ms",
        ),
    ]
    details = {
        "load": load_note(),
        "timings": timer.summary(),
        "walls": walls.summary(),
        "job_total_s": job["job_total_s"],
        "ratios_to_pass": {
            name: timer.ratio(name)
            for name in (
                "run-agent --help",
                "run-agent bus post",
                "agents' bus post",
                "run-agent job",
            )
        },
        "wall_ratios_to_pass": {
            name: walls.median(name) / wall_floor_s for name in (wall_console, wall_agents)
        },
    }
    print(load_note())
    return finish("cli", rows, details)


if __name__ == "__main__":
    sys.exit(main())
