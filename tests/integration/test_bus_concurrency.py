"""Many writer processes on one bus file: nothing lost, nothing torn, nothing doubled."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from conductor_loop.bus import Message, read_all
from tests.integration.workers import SCRIPT as WORKERS
from tests.integration.workers import make_body


def _start_writers(
    bus: Path, start_file: Path, count: int, writers: int, *extra: str
) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKERS),
                "bus-writer",
                str(bus),
                "--writer",
                f"w{i}",
                "--count",
                str(count),
                "--start-file",
                str(start_file),
                *extra,
            ],
            stderr=subprocess.PIPE,
        )
        for i in range(writers)
    ]


def _run_writers(procs: list[subprocess.Popen[bytes]], start_file: Path) -> None:
    start_file.touch()  # all start appending together
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()


def _check_complete(messages: list[Message], writers: int, count: int) -> None:
    """Every writer's sequence 1..count is present once, in order, with its exact body."""
    assert len(messages) == writers * count
    assert len({m.msg_id for m in messages}) == len(messages)
    seqs: dict[str, list[int]] = defaultdict(list)
    for msg in messages:
        writer, seq = msg.meta["writer"], int(msg.meta["seq"])
        assert msg.body == make_body(writer, seq, len(msg.body)), f"{writer} #{seq} damaged"
        assert msg.body.startswith(f"{writer}:{seq}:{len(msg.body)}\n")
        seqs[writer].append(seq)
    assert sorted(seqs) == sorted(f"w{i}" for i in range(writers))
    for writer, got in seqs.items():
        assert got == list(range(1, count + 1)), f"{writer}'s sequence is incomplete"


def test_ten_processes_append_a_thousand_each(tmp_path: Path) -> None:
    bus = tmp_path / "TASK-MESSAGE-BUS.md"
    start = tmp_path / "go"
    _run_writers(_start_writers(bus, start, 1000, 10), start)
    _check_complete(read_all(bus), writers=10, count=1000)


def test_rotation_under_several_writers_loses_nothing(tmp_path: Path) -> None:
    bus = tmp_path / "TASK-MESSAGE-BUS.md"
    start = tmp_path / "go"
    rotate_bytes = 64 * 1024
    procs = _start_writers(bus, start, 400, 4, "--rotate-bytes", str(rotate_bytes))
    _run_writers(procs, start)
    archived = sorted(tmp_path.glob("TASK-MESSAGE-BUS.md.*.archived"))
    assert len(archived) >= 5
    for path in archived:
        assert path.name[len(bus.name) :].startswith(".2")  # <file>.<UTC stamp>.archived
        assert path.stat().st_size <= rotate_bytes
    messages = [m for path in [*archived, bus] for m in read_all(path)]
    _check_complete(messages, writers=4, count=400)
