"""Every message ``BusWriter.append`` writes is read back by ``read_all`` unchanged."""

from __future__ import annotations

import calendar
import fcntl
import itertools
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conductor_loop.bus import BusWriter, Link, Message, Parent, read_all
from conductor_loop.errors import BusLockTimeoutError, InvalidRequestError

# Pieces that look like record boundaries, YAML or legacy lines; mixed with free text.
_FRAGMENTS = [
    "---",
    "---\n",
    "\n---\n",
    "---\nmsg_id: x",
    "\n---\nmsg_id: MSG-1\ntype: X\nproject_id: p\nbody_length: 3\n---\nabc\n",
    "body_length: 999",
    "key: value",
    "- item",
    "true",
    "~",
    "\n",
    "\n\n",
    " ",
    "\r\n",
    "\t",
    "\u2028",
    "\u2029",
    "\x85",
    "\ufeff",
    "🚀",
    "[2026-02-23 19:17:10] INFO: legacy looking",
    "# comment",
    '"quoted"',
    "'single'",
    "\\",
]
bodies = st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text()), max_size=8).map("".join)
words = st.one_of(st.sampled_from(_FRAGMENTS), st.text())
nonempty_words = st.one_of(st.sampled_from([f for f in _FRAGMENTS if f]), st.text(min_size=1))
meta_maps = st.dictionaries(words, words, max_size=5)
parents = st.lists(st.builds(Parent, msg_id=nonempty_words, kind=words, meta=meta_maps), max_size=3)
links = st.lists(st.builds(Link, url=nonempty_words, label=words, kind=words), max_size=2)
messages = st.builds(
    Message,
    type=nonempty_words,
    project_id=nonempty_words,
    body=bodies,
    task_id=words,
    run_id=words,
    issue_id=words,
    parents=parents,
    links=links,
    meta=meta_maps,
)

_counter = itertools.count()


@pytest.fixture(scope="module")
def bus_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _same(read: Message, written: Message) -> None:
    assert read.type == written.type
    assert read.project_id == written.project_id
    assert read.task_id == written.task_id
    assert read.run_id == written.run_id
    assert read.issue_id == written.issue_id
    assert read.body == written.body
    assert read.meta == written.meta
    assert read.parents == written.parents
    assert read.links == written.links
    assert read.msg_id == written.msg_id
    assert read.ts == written.ts
    assert read == written


@settings(max_examples=300, deadline=None)  # file I/O: no per-example deadline
@given(msg=messages)
@example(msg=Message("INFO", "p", body="---\nmsg_id: x\ntype: y\n---\n"))
@example(msg=Message("true", "p", body="\n\nkey: value\n- item\n\n", meta={"a:": "b:"}))
@example(msg=Message("INFO", "p", body="\u2028🚀\u2029", meta={"": "", "- x": "? y"}))
def test_one_message_round_trips(bus_dir: Path, msg: Message) -> None:
    path = bus_dir / f"bus-{next(_counter)}.md"
    with BusWriter(path) as writer:
        writer.append(msg)
    assert len(read_all(path)) == 1
    _same(read_all(path)[0], msg)


@settings(max_examples=40, deadline=None)
@given(batch=st.lists(messages, min_size=2, max_size=6))
def test_sequences_of_messages_round_trip(bus_dir: Path, batch: list[Message]) -> None:
    path = bus_dir / f"bus-{next(_counter)}.md"
    with BusWriter(path) as writer:
        for msg in batch:
            writer.append(msg)
    read = read_all(path)
    assert len(read) == len(batch)
    for got, want in zip(read, batch, strict=True):
        _same(got, want)


def test_append_fills_ids_and_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "bus.md"
    with BusWriter(path) as writer:
        first = writer.append(Message("INFO", "p", msg_id="caller-chosen"))
        issue = writer.append(Message("ISSUE", "p"))
        dated = writer.append(Message("INFO", "p", ts="2020-01-01T00:00:00Z"))
    assert first.msg_id.startswith("MSG-")  # always generated
    assert issue.issue_id == issue.msg_id
    assert dated.ts == "2020-01-01T00:00:00Z"
    assert [m.msg_id for m in read_all(path)] == [first.msg_id, issue.msg_id, dated.msg_id]


def test_append_stamps_the_current_utc_second(tmp_path: Path) -> None:
    with BusWriter(tmp_path / "bus.md") as writer:
        for _ in range(3):
            before = time.time()
            msg = writer.append(Message("INFO", "p"))
            after = time.time()
            stamp = calendar.timegm(time.strptime(msg.ts, "%Y-%m-%dT%H:%M:%SZ"))
            assert int(before) <= stamp <= int(after)
            assert msg.msg_id.startswith(time.strftime("MSG-%Y%m%d-%H%M%S-", time.gmtime(stamp)))


@pytest.mark.parametrize("missing", ["type", "project_id"])
def test_append_requires_type_and_project(tmp_path: Path, missing: str) -> None:
    msg = Message("INFO", "p")
    setattr(msg, missing, "")
    with BusWriter(tmp_path / "bus.md") as writer, pytest.raises(InvalidRequestError):
        writer.append(msg)
    assert not (tmp_path / "bus.md").exists()


def test_lock_wait_is_bounded_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bus.md"
    path.write_text("")
    with open(path, "rb") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)  # another writer stuck holding the lock
        started = time.monotonic()
        with (
            BusWriter(path, lock_timeout=0.2) as writer,
            pytest.raises(BusLockTimeoutError, match=str(path)),
        ):
            writer.append(Message("INFO", "p"))
        assert 0.2 <= time.monotonic() - started < 5
        fcntl.flock(holder, fcntl.LOCK_UN)
    with BusWriter(path, lock_timeout=0.2) as writer:
        msg = writer.append(Message("INFO", "p", body="after the lock was released"))
    assert [m.msg_id for m in read_all(path)] == [msg.msg_id]
