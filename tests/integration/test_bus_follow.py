"""``follow`` yields appended messages promptly and keeps going across rotation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conductor_loop.bus import BusWriter, Message, follow, read_from

PROMPT = 5.0  # seconds; the notification path is typically milliseconds


class Follower:
    """Drives a ``follow`` generator step by step, with a deadline on each step."""

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.stop = threading.Event()
        self._gen = follow(path, offset=offset, stop=self.stop)
        self._pool = ThreadPoolExecutor(1)

    def next_ids(self, count: int) -> list[str]:
        return [
            self._pool.submit(next, self._gen).result(timeout=PROMPT).msg_id for _ in range(count)
        ]

    def close(self) -> None:
        self.stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def bus(tmp_path: Path) -> Path:
    return tmp_path / "TASK-MESSAGE-BUS.md"


@pytest.fixture
def follower(bus: Path) -> Iterator[Follower]:
    with BusWriter(bus) as writer:
        writer.append(Message("INFO", "p", body="before following"))
    _, offset = read_from(bus)
    follower = Follower(bus, offset)
    yield follower
    follower.close()


def _append(bus: Path, body: str, rotate_bytes: int = 0) -> str:
    with BusWriter(bus, rotate_bytes=rotate_bytes) as writer:
        return writer.append(Message("INFO", "p", body=body)).msg_id


def test_follow_yields_new_messages_promptly(bus: Path, follower: Follower) -> None:
    for i in range(5):
        msg_id = _append(bus, f"live {i}")
        assert follower.next_ids(1) == [msg_id]


def test_follow_starts_at_the_offset_and_skips_nothing_after_it(
    bus: Path, follower: Follower
) -> None:
    ids = [_append(bus, f"burst {i}") for i in range(50)]
    assert follower.next_ids(50) == ids


def test_follow_survives_rotation(bus: Path, follower: Follower) -> None:
    first = _append(bus, "old file")
    assert follower.next_ids(1) == [first]
    rotated = _append(bus, "x" * 100, rotate_bytes=100)  # archives the old file first
    assert list(bus.parent.glob("*.archived"))
    assert follower.next_ids(1) == [rotated]
    after = [_append(bus, f"new file {i}") for i in range(3)]
    assert follower.next_ids(3) == after


def test_follow_reads_the_rest_of_the_old_file_after_rotation(
    bus: Path, follower: Follower
) -> None:
    first = _append(bus, "old file")
    assert follower.next_ids(1) == [first]  # the follower now has the old file open
    # Appended to the old file after the follower's last read, then the file rotates
    # before the follower wakes: it must still yield the late one, then the new file's.
    late = _append(bus, "late in the old file")
    rotated = _append(bus, "x" * 100, rotate_bytes=100)
    assert follower.next_ids(2) == [late, rotated]


def test_follow_waits_for_a_file_that_does_not_exist_yet(tmp_path: Path) -> None:
    bus = tmp_path / "later" / "TASK-MESSAGE-BUS.md"
    follower = Follower(bus)
    try:
        msg_id = _append(bus, "first ever")
        assert follower.next_ids(1) == [msg_id]
    finally:
        follower.close()
