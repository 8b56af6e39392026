"""Child processes for the integration tests: ``python workers.py <role> ...``.

Run as scripts (``subprocess``), so each is a real, separately started process that the
tests can run concurrently or kill. The bodies they write are derived from
(writer, seq, size), so a test can check every record it reads back byte for byte.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conductor_loop.storage.runinfo import RunInfo

SCRIPT = Path(__file__).resolve()  # run as: python SCRIPT <role> ...
_FILLER = "filler text with a --- separator\n---\nand key: value lines\n"


def make_body(writer: str, seq: int, size: int) -> str:
    """A body of exactly ``size`` characters that identifies its writer and sequence."""
    head = f"{writer}:{seq}:{size}\n"
    repeat = _FILLER * (size // len(_FILLER) + 1)
    return (head + repeat)[:size] if size >= len(head) else head[:size]


def body_size(writer: str, seq: int, low: int, high: int) -> int:
    return random.Random(f"{writer}/{seq}").randint(low, high)


def _wait_for(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            sys.exit(f"start file {path} never appeared")
        time.sleep(0.001)


def bus_writer(args: argparse.Namespace) -> None:
    """Append ``--count`` messages (0 = until killed); log each finished append."""
    from conductor_loop.bus import BusWriter, Message

    if args.start_file:
        _wait_for(Path(args.start_file), 60)
    done_fd = os.open(args.done, os.O_WRONLY | os.O_APPEND | os.O_CREAT) if args.done else -1
    seq = 0
    with BusWriter(args.bus, rotate_bytes=args.rotate_bytes) as writer:
        while args.count == 0 or seq < args.count:
            seq += 1
            size = body_size(args.writer, seq, args.min_body, args.max_body)
            msg = writer.append(
                Message(
                    "PROGRESS",
                    "proj",
                    body=make_body(args.writer, seq, size),
                    task_id="task",
                    meta={"writer": args.writer, "seq": str(seq)},
                )
            )
            if done_fd >= 0:
                os.write(done_fd, f"{msg.msg_id} {seq} {size}\n".encode())


def runinfo_version(i: int, final: bool = False) -> RunInfo:
    """Version ``i`` of the record: every field is derived from ``i`` so a reader can
    tell a whole document from a mixed or partial one."""
    from conductor_loop.storage.runinfo import RunInfo

    return RunInfo(
        run_id="r1",
        project_id="p",
        task_id="t",
        pid=i,
        exit_code=i % 7,
        status="completed" if final else "running",
        error_summary=f"version {i}\n" * (50 + i % 50),  # 0.6-1.5 KB: spans writes
    )


def _check_version(info: RunInfo) -> None:
    if info != runinfo_version(info.pid, info.status == "completed"):
        raise ValueError(f"version {info.pid} is not what the writer wrote")


def runinfo_writer(args: argparse.Namespace) -> None:
    """Rewrite run-info.yaml ``--count`` times (versions 1..count)."""
    from conductor_loop.storage.runinfo import write_run_info

    run_dir = Path(args.run_dir)
    for i in range(1, args.count + 1):
        write_run_info(run_dir, runinfo_version(i, i == args.count), fsync=args.fsync)


def runinfo_reader(args: argparse.Namespace) -> None:
    """Read run-info.yaml in a tight loop until ``--stop-file`` exists; print counts."""
    from conductor_loop.storage.runinfo import read_run_info

    run_dir = Path(args.run_dir)
    stop = Path(args.stop_file)
    reads = failures = 0
    versions: set[int] = set()
    problems: list[str] = []
    ready = Path(args.ready_file)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if reads == 1:
            ready.touch()  # the test starts the writer only once we are reading
        finished = stop.exists()  # checked first: the last read sees the final version
        try:
            info = read_run_info(run_dir)
            _check_version(info)
            versions.add(info.pid)
            reads += 1
        except Exception as exc:  # any failure to read a whole document counts
            failures += 1
            if len(problems) < 5:
                problems.append(f"{type(exc).__name__}: {exc}")
        if finished:
            break
    result = {"reads": reads, "failures": failures, "versions": len(versions)}
    print(json.dumps(result | {"last": max(versions, default=-1), "problems": problems}))


def main() -> None:
    parser = argparse.ArgumentParser()
    roles = parser.add_subparsers(dest="role", required=True)
    w = roles.add_parser("bus-writer")
    w.add_argument("bus")
    w.add_argument("--writer", required=True)
    w.add_argument("--count", type=int, default=0)
    w.add_argument("--min-body", type=int, default=40)
    w.add_argument("--max-body", type=int, default=120)
    w.add_argument("--rotate-bytes", type=int, default=0)
    w.add_argument("--done")
    w.add_argument("--start-file")
    w.set_defaults(func=bus_writer)
    rw = roles.add_parser("runinfo-writer")
    rw.add_argument("run_dir")
    rw.add_argument("--count", type=int, default=1000)
    rw.add_argument("--fsync", action="store_true")
    rw.set_defaults(func=runinfo_writer)
    rr = roles.add_parser("runinfo-reader")
    rr.add_argument("run_dir")
    rr.add_argument("--stop-file", required=True)
    rr.add_argument("--ready-file", required=True)
    rr.set_defaults(func=runinfo_reader)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
