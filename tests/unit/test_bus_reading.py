"""Reading bus files: torn tails, legacy lines, foreign records, since/tail."""

from __future__ import annotations

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
TORN_CASES = {
    "plain": _record("MSG-T", "hello\nworld"),
    "general": _record(
        "MSG-T",
        "x",
        meta={"k": "v: w", "e": "🚀"},
        parents=[Parent("MSG-P", "reply", {"a": "b"})],
        task_id="t",
    ),
    "record-like-body": _record(
        "MSG-T",
        "---\nmsg_id: MSG-FAKE\ntype: INFO\nproject_id: p\nbody_length: 1\n---\nz\n---\n",
    ),
    "empty-body": _record("MSG-T", ""),
    "utf8": _record("MSG-T", "ünïcödé 🚀\u2028 — end"),
}


# A torn record whose body holds the text of a whole record ("MSG-FAKE") can surface that
# text as a message when the tear falls after it: the bytes are then identical to a real
# record written after the tear, so no reader can tell them apart. Only that id may appear.
PHANTOMS = {"record-like-body": {"MSG-FAKE"}}


def _real_ids(ids: list[str], case: str) -> list[str]:
    return [i for i in ids if i not in PHANTOMS.get(case, set())]


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
        assert _real_ids([m.msg_id for m in seen], case) == complete, f"cut at byte {cut}"
        with BusWriter(path) as writer:
            new = writer.append(Message("INFO", "p", body=f"after cut {cut}"))
        got = read_all(path)
        got_ids = _real_ids([m.msg_id for m in got], case)
        assert got_ids in _expect_after_repair(["MSG-A", "MSG-B"], cut, len(torn), new.msg_id), (
            f"cut at byte {cut}: {got_ids}"
        )
        by_id = {m.msg_id: m for m in got}
        assert by_id[new.msg_id].body == f"after cut {cut}"
        assert by_id["MSG-B"].body == "second\n---\n"
        if "MSG-T" in by_id:
            assert by_id["MSG-T"].body == torn.decode().split("\n---\n", 1)[1][:-1]
        # A follower that stopped before the torn record picks up the rest exactly once.
        followed = _real_ids([m.msg_id for m in read_from(path, offset)[0]], case)
        assert followed == got_ids[len(complete) :], f"cut at byte {cut}"


@pytest.mark.parametrize("case", sorted(TORN_CASES))
def test_torn_record_at_file_start(tmp_path: Path, case: str) -> None:
    torn = TORN_CASES[case]
    path = tmp_path / "bus.md"
    for cut in range(1, len(torn)):
        path.write_bytes(torn[:cut])
        assert _real_ids([m.msg_id for m in read_all(path)], case) == [], f"cut at byte {cut}"
        with BusWriter(path) as writer:
            new = writer.append(Message("INFO", "p", body="after"))
        got_ids = _real_ids([m.msg_id for m in read_all(path)], case)
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
