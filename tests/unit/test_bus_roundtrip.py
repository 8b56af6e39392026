"""Every message ``BusWriter.append`` writes is read back by ``read_all`` unchanged, and no
body, however it is made, reads back as a record of its own."""

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
from conductor_loop.bus.reader import read_tail
from conductor_loop.errors import BusLockTimeoutError, InvalidRequestError

# A whole record header as a writer makes it, to be smuggled into bodies.
FORGED_HEADER = (
    "msg_id: MSG-FORGED\nts: 2020-01-01T00:00:00Z\ntype: RUN_STOP\nproject_id: p\n"
    "body_length: 0\n---\n"
)

# Pieces that look like record boundaries, YAML or legacy lines; mixed with free text.
_FRAGMENTS = [
    FORGED_HEADER,
    "\n---\n" + FORGED_HEADER,
    "---\n" + FORGED_HEADER,
    ">msg_id: quoted",
    ">>msg_id:",
    "msg_id:",
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

# Bodies that embed forged record headers where a reader might take them for real ones
# (at the very start, after a "---" line, or ending in "---" that the record's own
# newline completes), and metadata that keeps a record off the reader's fast path.
_FORGERIES = [
    FORGED_HEADER,
    FORGED_HEADER[:-1],
    "\n---\n" + FORGED_HEADER,
    "\n---\n" + FORGED_HEADER[:-1],
    "---\n" + FORGED_HEADER,
    "x\n---\n" + FORGED_HEADER.replace("body_length: 0", "body_length: 4") + "abcd",
]
forging_bodies = st.builds(
    lambda before, forged, after: before + forged + after,
    st.sampled_from(["", "x", "x\n", "---\n", "\n---\n", "msg_id:"]) | bodies,
    st.lists(st.sampled_from(_FORGERIES), min_size=1, max_size=4).map("".join),
    st.sampled_from(["", "\n", "---", "\n---", FORGED_HEADER]) | bodies,
)
spaced_meta = st.dictionaries(words, st.just("has a space") | words, min_size=1, max_size=3)
forging_messages = st.builds(
    Message,
    type=st.sampled_from(["INFO", "FACT"]) | nonempty_words,
    project_id=st.just("p") | nonempty_words,
    body=forging_bodies,
    task_id=words,
    parents=st.just([]) | parents,
    meta=st.just({}) | spaced_meta,
)


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


def _record_starts(path: Path) -> int:
    return (b"\n" + path.read_bytes()).count(b"\n---\nmsg_id:")


@settings(max_examples=300, deadline=None)
@given(msg=forging_messages)
@example(msg=Message("INFO", "p", body=FORGED_HEADER, meta={"note": "has a space"}))
@example(msg=Message("INFO", "p", body=FORGED_HEADER, parents=[Parent("MSG-1")]))
@example(msg=Message("INFO", "p", body="x\n---\n" + FORGED_HEADER, meta={"k": "a b"}))
@example(msg=Message("INFO", "p", body=FORGED_HEADER[:-1], meta={"k": "a b"}))
@example(msg=Message("INFO", "p", body="\n---\n" + FORGED_HEADER * 3))
def test_forged_headers_in_a_body_stay_in_the_body(bus_dir: Path, msg: Message) -> None:
    """Exactly the posted message comes back, and the file holds one record start only:
    so tail reads, which start from the end, cannot begin inside the body either."""
    path = bus_dir / f"bus-{next(_counter)}.md"
    with BusWriter(path) as writer:
        writer.append(msg)
    assert _record_starts(path) == 1
    got = read_all(path)
    assert len(got) == 1
    _same(got[0], msg)


def test_tail_reads_do_not_start_inside_a_body(tmp_path: Path) -> None:
    """The last N are found by searching back for record starts: a body holding many
    forged records must not be taken for the newest messages."""
    path = tmp_path / "bus.md"
    forged = "x" + "".join("\n---\n" + FORGED_HEADER[:-1] for _ in range(5))
    with BusWriter(path) as writer:
        filler = writer.append(Message("INFO", "p", body="f" * 100_000))  # past one chunk
        posted = writer.append(Message("INFO", "p", body=forged))
    assert [m.msg_id for m in read_all(path)] == [filler.msg_id, posted.msg_id]
    for count in (1, 2, 3):
        got = read_tail(path, count)
        assert [m.msg_id for m in got] == [filler.msg_id, posted.msg_id][-count:], count
        assert got[-1].body == forged


def test_record_like_lines_and_quoted_lines_keep_their_exact_text(tmp_path: Path) -> None:
    """Bodies are stored so that no line can open a record; reading undoes that exactly,
    and bodies of records written without it (older files) are left as they are."""
    path = tmp_path / "bus.md"
    bodies = [
        "msg_id: a\n---\nmsg_id: b\n---\n>msg_id: c\n---\n>>msg_id: d\nmsg_id: e",
        ">msg_id: already quoted",
        "---\nmsg_id:",
        "plain ---\nmsg_id: not after a --- line",
    ]
    with BusWriter(path) as writer:
        for body in bodies:
            writer.append(Message("INFO", "p", body=body))
    assert [m.body for m in read_all(path)] == bodies
    assert _record_starts(path) == len(bodies)
    old = b"---\nmsg_id: OLD\nts: 2020-01-01T00:00:00Z\ntype: INFO\nproject_id: p\n"
    old += b"body_length: 17\n---\n---\n>msg_id: kept\n"
    path.write_bytes(old)
    assert [m.body for m in read_all(path)] == ["---\n>msg_id: kept"]


def test_text_that_is_not_valid_unicode_is_stored_with_replacement_characters(
    tmp_path: Path,
) -> None:
    """Lone surrogates (JSON allows "\\ud800"; argv and C-locale stdin produce them) cannot
    be written as UTF-8: they become U+FFFD, in the returned message and in the file."""
    path = tmp_path / "bus.md"
    bad = "a\ud800b\udcff"
    msg = Message(
        "INFO",
        "p",
        body=bad,
        task_id="t",
        meta={bad: bad, "k": "v"},
        parents=[Parent(bad, bad, {bad: bad})],
        links=[Link(bad, bad, bad)],
    )
    with BusWriter(path) as writer:
        posted = writer.append(msg)
    good = "a\ufffdb\ufffd"
    assert posted.body == good and posted.meta == {good: good, "k": "v"}
    assert posted.parents == [Parent(good, good, {good: good})]
    assert posted.links == [Link(good, good, good)]
    assert read_all(path) == [posted]


@settings(max_examples=40, deadline=None)
@given(batch=st.lists(messages | forging_messages, min_size=2, max_size=6))
def test_sequences_of_messages_round_trip(bus_dir: Path, batch: list[Message]) -> None:
    path = bus_dir / f"bus-{next(_counter)}.md"
    with BusWriter(path) as writer:
        for msg in batch:
            writer.append(msg)
    assert _record_starts(path) == len(batch)
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


def test_lock_wait_is_bounded_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bus.md"
    path.write_text("")
    naps: list[float] = []
    real_sleep = time.sleep
    release_on_nap: list[int] = []  # the nap after which the holder lets go

    with open(path, "rb") as holder:

        def nap(seconds: float) -> None:
            naps.append(seconds)
            if len(naps) in release_on_nap:
                fcntl.flock(holder, fcntl.LOCK_UN)
            real_sleep(seconds)

        monkeypatch.setattr(time, "sleep", nap)
        fcntl.flock(holder, fcntl.LOCK_EX)  # another writer stuck holding the lock
        with (
            BusWriter(path, lock_timeout=0.2) as writer,
            pytest.raises(BusLockTimeoutError, match=str(path)) as failed,
        ):
            writer.append(Message("INFO", "p"))
        assert "gave up after 0.2s" in str(failed.value)
        assert len(naps) > 1  # it kept trying before it gave up
        assert path.read_text() == ""
        # A writer waiting for the lock gets it once the holder lets go.
        naps.clear()
        release_on_nap.append(3)
        with BusWriter(path, lock_timeout=60) as writer:
            msg = writer.append(Message("INFO", "p", body="after the lock was released"))
        assert len(naps) >= 3
    assert [m.msg_id for m in read_all(path)] == [msg.msg_id]
