"""A writer killed with SIGKILL mid-append never costs the records already written."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from conductor_loop.bus import BusWriter, Message, read_all, read_from
from tests.integration.workers import SCRIPT as WORKERS
from tests.integration.workers import make_body
from tests.support import wait_until

KILLS = 20  # at least this many kills ...
MIN_TEARS = 2  # ... and more (up to MAX_KILLS) until this many left a partial record
MAX_KILLS = 80


def _finished(done: Path) -> list[tuple[str, str, int]]:
    """Appends the child reported as returned: (msg_id, seq, size), whole lines only."""
    if not done.exists():
        return []
    lines = done.read_text().split("\n")[:-1]
    return [(m, s, int(n)) for m, s, n in (line.split() for line in lines)]


def test_sigkill_mid_append_twenty_times(tmp_path: Path) -> None:
    bus = tmp_path / "TASK-MESSAGE-BUS.md"
    rng = random.Random()
    expected: dict[str, tuple[str, str]] = {}  # msg_id -> (writer, seq)
    tears = kills = offset = 0
    seen: list[str] = []
    while kills < KILLS or (tears < MIN_TEARS and kills < MAX_KILLS):
        round_no = kills
        kills += 1
        writer = f"k{round_no}"
        done = tmp_path / f"done-{round_no}"
        child = subprocess.Popen(
            [
                sys.executable,
                str(WORKERS),
                "bus-writer",
                str(bus),
                "--writer",
                writer,
                "--min-body",
                "20000",
                "--max-body",
                "200000",
                "--done",
                str(done),
            ],
            stderr=subprocess.PIPE,
        )
        try:
            want = rng.randint(1, 4)
            wait_until(
                lambda done=done, want=want: len(_finished(done)) >= want,
                30,
                f"{want} appends by {writer}",
            )
            time.sleep(rng.uniform(0, 0.004))  # a random point within the next appends
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL, child.stderr.read().decode()  # type: ignore[union-attr]
        for msg_id, seq, _size in _finished(done):
            expected[msg_id] = (writer, seq)
        # Read on from where the last round's complete records ended, as a follower does.
        new_messages, offset = read_from(bus, offset)
        if offset < bus.stat().st_size:
            tears += 1  # the file ends in a partial record
        for msg in new_messages:  # every record read back is whole (incl. one in flight)
            assert msg.body == make_body(msg.meta["writer"], int(msg.meta["seq"]), len(msg.body))
        seen += [m.msg_id for m in new_messages]
        missing = set(expected) - set(seen)
        assert not missing, f"round {round_no}: finished appends lost: {sorted(missing)[:3]}"
    with BusWriter(bus) as writer_after:
        last = writer_after.append(Message("INFO", "proj", body="after all the kills"))
    messages = read_all(bus)
    assert [m.msg_id for m in messages] == [*seen, last.msg_id]
    for msg in messages[:-1]:
        if msg.msg_id in expected:
            assert (msg.meta["writer"], msg.meta["seq"]) == expected[msg.msg_id]
    # Each kill lands mid-write about a third of the time with these body sizes.
    assert tears >= MIN_TEARS, f"only {tears} of {kills} kills tore a record: test too weak"
    print(f"{kills} kills, {tears} left a torn record, {len(messages)} records intact")
