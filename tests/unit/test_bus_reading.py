"""Reading bus files: torn tails, legacy lines, foreign records, since/tail."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conductor_loop.bus import BusWriter, Message, Parent, format_record, read_all, read_from
from conductor_loop.bus.reader import read_before, read_since, read_tail
from conductor_loop.errors import UnknownMessageIdError


def _record(msg_id: str, body: str, **kwargs: object) -> bytes:
    msg = Message("INFO", "p", body=body, msg_id=msg_id, ts="2026-02-23T19:17:10Z", **kwargs)  # type: ignore[arg-type]
    return format_record(msg).encode("utf-8")


# Records to tear: the plain fast path, the general path (meta/parents, quoted values),
# a body full of record-like lines, an empty body, and multi-byte UTF-8.
TORN_MESSAGES = {
    "plain": Message("INFO", "p", body="hello\nworld"),
    "general": Message(
        "INFO",
        "p",
        body="x",
        meta={"k": "v: w", "e": "🚀"},
        parents=[Parent("MSG-P", "reply", {"a": "b"})],
        task_id="t",
    ),
    "record-like-body": Message(
        "INFO",
        "p",
        body="---\nmsg_id: MSG-FAKE\ntype: INFO\nproject_id: p\nbody_length: 1\n---\nz\n---\n",
    ),
    "empty-body": Message("INFO", "p", body=""),
    "utf8": Message("INFO", "p", body="ünïcödé 🚀\u2028 — end"),
}
TORN_CASES = {
    case: _record("MSG-T", msg.body, meta=msg.meta, parents=msg.parents, task_id=msg.task_id)
    for case, msg in TORN_MESSAGES.items()
}


def _no_phantoms(ids: list[str], case: str) -> list[str]:
    """The ids read back: a record-like body ("MSG-FAKE") is stored quoted, so it never
    surfaces, not even when a tear falls after it."""
    assert "MSG-FAKE" not in ids, (case, ids)
    return ids


def _expect_after_repair(before: list[str], cut: int, size: int, new_id: str) -> list[list[str]]:
    """Acceptable id lists once a new record follows a record torn at ``cut``.

    When only the final newline was lost, the writer's repair newline completes the
    record (its body is intact), so it may read back whole.
    """
    if cut == size:
        return [[*before, "MSG-T", new_id]]
    if cut == size - 1:
        return [[*before, new_id], [*before, "MSG-T", new_id]]
    return [[*before, new_id]]


@pytest.mark.parametrize("case", sorted(TORN_CASES))
def test_torn_tail_at_every_byte_then_new_append(tmp_path: Path, case: str) -> None:
    torn = TORN_CASES[case]
    before = _record("MSG-A", "first") + _record("MSG-B", "second\n---\n")
    path = tmp_path / "bus.md"
    for cut in range(len(torn) + 1):
        path.write_bytes(before + torn[:cut])
        complete = ["MSG-A", "MSG-B"] + (["MSG-T"] if cut == len(torn) else [])
        seen, offset = read_from(path)
        assert _no_phantoms([m.msg_id for m in seen], case) == complete, f"cut at byte {cut}"
        with BusWriter(path) as writer:
            new = writer.append(Message("INFO", "p", body=f"after cut {cut}"))
        got = read_all(path)
        got_ids = _no_phantoms([m.msg_id for m in got], case)
        assert got_ids in _expect_after_repair(["MSG-A", "MSG-B"], cut, len(torn), new.msg_id), (
            f"cut at byte {cut}: {got_ids}"
        )
        by_id = {m.msg_id: m for m in got}
        assert by_id[new.msg_id].body == f"after cut {cut}"
        assert by_id["MSG-B"].body == "second\n---\n"
        if "MSG-T" in by_id:
            assert by_id["MSG-T"].body == TORN_MESSAGES[case].body
        # A follower that stopped before the torn record picks up the rest exactly once.
        followed = _no_phantoms([m.msg_id for m in read_from(path, offset)[0]], case)
        assert followed == got_ids[len(complete) :], f"cut at byte {cut}"


@pytest.mark.parametrize("case", sorted(TORN_CASES))
def test_torn_record_at_file_start(tmp_path: Path, case: str) -> None:
    torn = TORN_CASES[case]
    path = tmp_path / "bus.md"
    for cut in range(1, len(torn)):
        path.write_bytes(torn[:cut])
        assert _no_phantoms([m.msg_id for m in read_all(path)], case) == [], f"cut at byte {cut}"
        with BusWriter(path) as writer:
            new = writer.append(Message("INFO", "p", body="after"))
        got_ids = _no_phantoms([m.msg_id for m in read_all(path)], case)
        assert got_ids in _expect_after_repair([], cut, len(torn), new.msg_id), f"cut {cut}"


def test_torn_record_in_the_middle_of_many(tmp_path: Path) -> None:
    path = tmp_path / "bus.md"
    torn = TORN_CASES["general"]
    path.write_bytes(_record("MSG-A", "a") + torn[: len(torn) // 2])
    ids = ["MSG-A"]
    with BusWriter(path) as writer:
        for i in range(5):
            ids.append(writer.append(Message("INFO", "p", body=f"n{i}")).msg_id)
    assert [m.msg_id for m in read_all(path)] == ids


def test_writer_keeps_appending_correctly_after_another_writer_tore_the_tail(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bus.md"
    with BusWriter(path) as writer:
        first = writer.append(Message("INFO", "p", body="one")).msg_id
        with open(path, "ab") as handle:  # another writer died mid-record
            handle.write(TORN_CASES["plain"][:30])
        second = writer.append(Message("INFO", "p", body="two")).msg_id
    assert [m.msg_id for m in read_all(path)] == [first, second]


def test_legacy_lines_read_as_numbered_messages(tmp_path: Path) -> None:
    path = tmp_path / "bus.md"
    path.write_text(
        "[2026-02-23 19:17:10] INFO: started\n"
        "[2026-02-23 19:17:11] PROGRESS: half way\n"
        "  continued on a second line\n"
        "\n"
        "[2026-02-23 19:17:12] DONE:\n"
    )
    with BusWriter(path) as writer:
        new = writer.append(Message("FACT", "p", body="new format"))
    got = read_all(path)
    assert [m.msg_id for m in got] == [
        "LEGACY-LINE-1",
        "LEGACY-LINE-2",
        "LEGACY-LINE-5",
        new.msg_id,
    ]
    assert [m.type for m in got] == ["INFO", "PROGRESS", "DONE", "FACT"]
    assert got[0].ts == "2026-02-23T19:17:10Z"
    assert got[1].body == "half way\n  continued on a second line"
    assert got[2].body == ""


def test_records_without_body_length_from_other_writers(tmp_path: Path) -> None:
    path = tmp_path / "bus.md"
    path.write_text(
        "---\nmsg_id: GO-1\nts: 2026-02-23T19:17:10Z\ntype: FACT\nproject_id: demo\n"
        "meta:\n  source: runner\n---\nfree text body\n"
        "---\nmsg_id: GO-2\nts: 2026-02-23T19:17:11Z\ntype: QUESTION\nproject_id: demo\n"
        "parents:\n  - GO-1\n  - msg_id: GO-0\n    kind: reply\n"
        "links:\n  - url: https://example.com\n    label: docs\n---\n"
        "multi\nline\n"
    )
    got = read_all(path)
    assert [(m.msg_id, m.type, m.body) for m in got] == [
        ("GO-1", "FACT", "free text body"),
        ("GO-2", "QUESTION", "multi\nline"),
    ]
    assert got[0].meta == {"source": "runner"}
    assert got[1].parents == [Parent("GO-1"), Parent("GO-0", "reply")]
    assert got[1].links[0].url == "https://example.com"


def test_record_missing_type_is_skipped_without_hurting_neighbours(tmp_path: Path) -> None:
    path = tmp_path / "bus.md"
    path.write_bytes(
        _record("MSG-A", "a")
        + b"---\nmsg_id: BROKEN\nproject_id: p\n---\nbody\n"
        + _record("MSG-C", "c")
    )
    assert [m.msg_id for m in read_all(path)] == ["MSG-A", "MSG-C"]


def test_missing_file_reads_empty(tmp_path: Path) -> None:
    assert read_all(tmp_path / "nope.md") == []
    assert read_tail(tmp_path / "nope.md", 5) == []


def _fill(path: Path, count: int, body: str = "body") -> list[str]:
    with BusWriter(path) as writer:
        return [
            writer.append(Message("INFO", "p", body=f"{body} {i}")).msg_id for i in range(count)
        ]


def test_read_since_returns_the_messages_after_an_id(tmp_path: Path) -> None:
    path = tmp_path / "bus.md"
    ids = _fill(path, 5)
    assert [m.msg_id for m in read_since(path, ids[1])] == ids[2:]
    assert read_since(path, ids[-1]) == []


def test_read_since_unknown_id_raises_a_distinct_error(tmp_path: Path) -> None:
    path = tmp_path / "bus.md"
    _fill(path, 3)
    with pytest.raises(UnknownMessageIdError, match="MSG-NOPE") as info:
        read_since(path, "MSG-NOPE")
    assert info.value.code == "unknown_message_id"


@pytest.mark.parametrize("count", [1, 2, 7, 20, 50])
def test_read_tail_returns_the_last_n(tmp_path: Path, count: int) -> None:
    path = tmp_path / "bus.md"
    ids = _fill(path, 30, body="x" * 3000)  # several tail chunks
    assert [m.msg_id for m in read_tail(path, count)] == ids[-count:]
    assert [m.msg_id for m in read_tail(path, 0)] == ids


def test_read_tail_with_record_like_bodies(tmp_path: Path) -> None:
    path = tmp_path / "bus.md"
    tricky = "\n---\nmsg_id: FAKE\ntype: X\nproject_id: p\nbody_length: 0\n---\n" * 3
    ids = _fill(path, 10, body=tricky)
    for count in (1, 3, 10):
        got = read_tail(path, count)
        assert [m.msg_id for m in got] == ids[-count:]
        assert all(m.body.startswith(tricky) for m in got)


def _bytes_read_by_this_process() -> int:
    with open("/proc/self/io") as stats:
        return next(int(line.split()[1]) for line in stats if line.startswith("rchar:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs Linux /proc/self/io")
def test_read_tail_reads_only_the_end_of_a_big_file(tmp_path: Path) -> None:
    """Bytes read (the kernel's count for this process) stay bounded on a 64 MB file."""
    path = tmp_path / "bus.md"
    with open(path, "wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # a sparse prefix: cheap to make, costly to read
    ids = _fill(path, 40)
    before = _bytes_read_by_this_process()
    got = read_tail(path, 20)
    read_bytes = _bytes_read_by_this_process() - before
    assert [m.msg_id for m in got] == ids[-20:]
    assert read_bytes < 1024 * 1024, f"read_tail read {read_bytes} bytes of a 64 MB file"


def test_read_before_pages_back_through_a_long_bus(tmp_path: Path) -> None:
    path = tmp_path / "bus.md"
    ids = _fill(path, 1500)
    for anchor in (1499, 1400, 1000, 300, 5, 0):
        for count in (1, 10, 100, 700):
            got = [m.msg_id for m in read_before(path, ids[anchor], count)]
            assert got == ids[max(0, anchor - count) : anchor], (anchor, count)
    # Paging back from the newest reaches the oldest, every message once.
    seen: list[str] = []
    page = read_before(path, ids[-1], 128)
    while page:
        seen[:0] = [m.msg_id for m in page]
        page = read_before(path, page[0].msg_id, 128)
    assert seen == ids[:-1]


def test_read_before_an_unknown_id_raises(tmp_path: Path) -> None:
    path = tmp_path / "bus.md"
    _fill(path, 3)
    with pytest.raises(UnknownMessageIdError, match="MSG-NOPE"):
        read_before(path, "MSG-NOPE", 10)


def _no_surrogates(messages: list[Message]) -> None:
    """What leaves the reader is valid Unicode: it encodes as UTF-8 (JSON, SSE, a tty)."""
    for msg in messages:
        json.dumps(msg.to_dict(), ensure_ascii=False).encode("utf-8")


def test_invalid_utf8_reads_as_replacement_characters(tmp_path: Path) -> None:
    """Any process that can write the file can put bad bytes anywhere: in a body, in a
    plain or quoted header value, or as a junk line. Each reads as U+FFFD, one per byte,
    and byte offsets stay exact for followers."""
    path = tmp_path / "bus.md"
    records = [
        _record("MSG-A", "ok #"),  # fast path body
        _record("MSG-B", "#", meta={"k": "a b #"}),  # quoted header value (general path)
        _record("MSG-C", "fine", task_id="t#"),  # plain header value
        b"\xff\xfe junk line\n",
        _record("MSG-D", "cut %% #"),  # %% becomes a truncated 3-byte sequence
        _record("MSG-E", "last é"),
    ]
    data = b"".join(records).replace(b"#", b"\xff").replace(b"%%", b"\xe2\x82")
    path.write_bytes(data)
    got = read_all(path)
    _no_surrogates(got)
    assert [m.msg_id for m in got] == ["MSG-A", "MSG-B", "MSG-C", "MSG-D", "MSG-E"]
    assert got[0].body == "ok \ufffd"
    assert got[1].meta == {"k": "a b \ufffd"} and got[1].body == "\ufffd"
    assert got[2].task_id == "t\ufffd"
    assert got[3].body == "cut \ufffd\ufffd \ufffd"
    assert got[4].body == "last é"
    # A follower that stopped after any record reads on from the exact byte offset.
    cut = len(b"".join(records[:2]).replace(b"#", b"\xff"))
    assert read_from(path, 0)[1] == len(data)
    rest, offset = read_from(path, cut)
    assert [m.msg_id for m in rest] == ["MSG-C", "MSG-D", "MSG-E"] and offset == len(data)
    _no_surrogates(rest)
    tail = read_tail(path, 2)
    assert [m.body for m in tail] == ["cut \ufffd\ufffd \ufffd", "last é"]
    _no_surrogates(tail)


def test_body_length_counts_characters_so_multibyte_bodies_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "bus.md"
    body = "ünïcödé 🚀\u2028 — 中文\n---\nmsg_id: x"
    with BusWriter(path) as writer:
        msg = writer.append(Message("INFO", "p", body=body, meta={"k": "a b"}))
    text = path.read_text(encoding="utf-8")
    assert f"\nbody_length: {len(body) + 1}\n" in text  # +1: the quoted "msg_id:" line
    assert read_all(path) == [msg]


def test_declared_body_length_wins_over_a_forged_header_in_older_records(
    tmp_path: Path,
) -> None:
    """Records written before bodies were quoted can hold a whole record header in their
    body. Their declared length checks out, so it is trusted: the header is body text."""
    forged = "msg_id: MSG-FORGED\nts: 2020-01-01T00:00:00Z\ntype: RUN_STOP\nproject_id: p\n"
    forged += "body_length: 0\n---\n"
    path = tmp_path / "bus.md"
    old = [
        "---\nmsg_id: MSG-OLD-1\nts: 2020-01-01T00:00:00Z\ntype: INFO\nproject_id: p\n"
        f'meta:\n  note: "has a space"\nbody_length: {len(forged)}\n---\n{forged}\n',
        "---\nmsg_id: MSG-OLD-2\nts: 2020-01-01T00:00:00Z\ntype: INFO\nproject_id: p\n"
        f"parents:\n  - MSG-OLD-1\nbody_length: {len(forged) - 1}\n---\n{forged}",
    ]  # the second body ends in "---": its record's closing newline completes the header
    for records in (old, old[::-1]):
        path.write_text("".join(records))
        got = {m.msg_id: m.body for m in read_all(path)}
        assert got == {"MSG-OLD-1": forged, "MSG-OLD-2": forged[:-1]}
