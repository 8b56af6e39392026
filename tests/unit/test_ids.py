"""Run ids, message ids, slugs and the one id validator (spec §3, §4)."""

from __future__ import annotations

import calendar
import multiprocessing
import os
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conductor_loop.errors import InvalidIdError
from conductor_loop.storage import ids
from conductor_loop.storage.ids import (
    MAX_SLUG_LENGTH,
    new_msg_id,
    new_run_id,
    new_task_id,
    slugify,
    utc_stamp,
    validate_id,
)
from tests.support import HOSTILE_ID_LABELS, HOSTILE_ID_PROBLEMS, HOSTILE_IDS

RUN_ID = re.compile(r"\A(\d{8})-(\d{6})(\d{4})-(\d+)-(\d+)\Z")
MSG_ID = re.compile(r"\AMSG-(\d{8})-(\d{6})-(\d{9})-PID(\d{5,})-(\d{4,})\Z")
TASK_ID = re.compile(r"\Atask-\d{8}-\d{6}-[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\Z")

# 2026-02-23 20:48:58.123456789 UTC
EXAMPLE_NS = calendar.timegm((2026, 2, 23, 20, 48, 58, 0, 0, 0)) * 1_000_000_000 + 123_456_789

GOOD_IDS = ["demo", "task-20260223-191700-docs", "20260223-2048580000-66788-1", "proj_1", "a.b"]


def test_run_id_has_spec_format_and_encodes_the_time() -> None:
    run_id = new_run_id(EXAMPLE_NS)
    match = RUN_ID.match(run_id)
    assert match, run_id
    assert match.group(1, 2, 3) == ("20260223", "204858", "1234")
    assert int(match.group(4)) == os.getpid()
    assert int(match.group(5)) >= 1


def test_msg_id_has_spec_format_and_encodes_the_time() -> None:
    msg_id = new_msg_id(EXAMPLE_NS)
    match = MSG_ID.match(msg_id)
    assert match, msg_id
    assert match.group(1, 2, 3) == ("20260223", "204858", "123456789")
    assert int(match.group(4)) == os.getpid()


def test_utc_stamp_is_run_id_shaped() -> None:
    assert RUN_ID.match(utc_stamp())


def test_sequence_counters_increase_by_one() -> None:
    runs = [int(RUN_ID.match(new_run_id(EXAMPLE_NS)).group(5)) for _ in range(3)]  # type: ignore[union-attr]
    msgs = [int(MSG_ID.match(new_msg_id(EXAMPLE_NS)).group(5)) for _ in range(3)]  # type: ignore[union-attr]
    assert runs == [runs[0], runs[0] + 1, runs[0] + 2]
    assert msgs == [msgs[0], msgs[0] + 1, msgs[0] + 2]


def test_100k_ids_in_one_process_are_unique_and_well_formed() -> None:
    # All with the same clock reading: only the sequence number can keep them apart.
    msg_ids = [new_msg_id(EXAMPLE_NS) for _ in range(100_000)]
    run_ids = [new_run_id(EXAMPLE_NS) for _ in range(100_000)]
    assert len(set(msg_ids)) == len(msg_ids)
    assert len(set(run_ids)) == len(run_ids)
    assert all(MSG_ID.match(m) for m in msg_ids)
    assert all(RUN_ID.match(r) for r in run_ids)


def test_clock_changes_between_ids_are_never_missed() -> None:
    seconds = [0, 1, 0, 86_400, 86_400, 1]
    for offset in seconds:
        ns = EXAMPLE_NS + offset * 1_000_000_000
        expected = time.strftime("%Y%m%d-%H%M%S", time.gmtime(ns // 1_000_000_000))
        assert new_msg_id(ns).startswith(f"MSG-{expected}-")
        run_match = RUN_ID.match(new_run_id(ns))
        assert run_match and "-".join(run_match.group(1, 2)) == expected


def test_ids_sort_by_time() -> None:
    earlier = [new_msg_id(EXAMPLE_NS), new_run_id(EXAMPLE_NS)]
    later = [new_msg_id(EXAMPLE_NS + 1_000_000_000), new_run_id(EXAMPLE_NS + 1_000_000_000)]
    assert earlier[0] < later[0]
    assert earlier[1] < later[1]


def _ids_in_child(count: int) -> list[str]:
    return [new_msg_id(EXAMPLE_NS) for _ in range(count)] + [
        new_run_id(EXAMPLE_NS) for _ in range(count)
    ]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_ids_are_unique_across_processes(method: str) -> None:
    # Same clock reading everywhere; a forked child inherits the parent's counters, so
    # only the PID (and the counter reset at fork) can keep its ids apart.
    parent_ids = _ids_in_child(2_000)
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        results = pool.map(_ids_in_child, [2_000] * 2)
    every = parent_ids + [i for chunk in results for i in chunk]
    assert len(set(every)) == len(every)


def test_forked_child_restarts_its_sequence_at_one() -> None:
    ctx = multiprocessing.get_context("fork")
    for _ in range(5):
        new_msg_id()
    with ctx.Pool(1) as pool:
        child_msg, child_run = pool.apply(_first_ids)
    msg_match = MSG_ID.match(child_msg)
    run_match = RUN_ID.match(child_run)
    assert msg_match and run_match
    assert int(msg_match.group(5)) == 1
    assert int(run_match.group(5)) == 1


def _first_ids() -> tuple[str, str]:
    # Pool workers are forked before any task runs, so these are their first ids.
    return new_msg_id(), new_run_id()


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Hello, World!", "hello-world"),
        ("  Fix the BUG #42  ", "fix-the-bug-42"),
        ("already-a-slug", "already-a-slug"),
        ("---", "task"),
        ("", "task"),
        ("Ünïcödé only", "n-c-d-only"),
        ("a" * 47 + " b", "a" * 47),  # cut at 48 would end on "-": trimmed
    ],
)
def test_slugify_examples(text: str, slug: str) -> None:
    assert slugify(text) == slug


@given(st.text())
def test_slugify_always_yields_a_valid_slug(text: str) -> None:
    slug = slugify(text)
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", slug)
    assert len(slug) <= MAX_SLUG_LENGTH
    validate_id(slug)


def test_new_task_id_format() -> None:
    task_id = new_task_id("Write the Docs", now=calendar.timegm((2026, 2, 23, 19, 17, 0, 0, 0, 0)))
    assert task_id == "task-20260223-191700-write-the-docs"
    assert TASK_ID.match(new_task_id("x" * 300))
    validate_id(new_task_id("../../etc/passwd"))


@pytest.mark.parametrize(("label", "value"), HOSTILE_IDS, ids=HOSTILE_ID_LABELS)
def test_validate_id_rejects_hostile_ids(label: str, value: str) -> None:
    with pytest.raises(InvalidIdError) as info:
        validate_id(value, "task_id")
    assert "task_id" in str(info.value)
    assert HOSTILE_ID_PROBLEMS[label] in str(info.value)
    assert info.value.code == "invalid_id"


@pytest.mark.parametrize("char", ["\x01", "\x1b", "\x1f", "\x7f"])
def test_validate_id_rejects_control_characters(char: str) -> None:
    with pytest.raises(InvalidIdError, match="control characters"):
        validate_id(f"a{char}b")


@pytest.mark.parametrize("value", [None, 3, b"abc", ["a"]])
def test_validate_id_rejects_non_strings(value: object) -> None:
    with pytest.raises(InvalidIdError, match="must be a string"):
        validate_id(value, "run_id")


@pytest.mark.parametrize("value", GOOD_IDS)
def test_validate_id_accepts_ordinary_ids(value: str) -> None:
    assert validate_id(value) == value


def test_validate_id_length_bound_is_inclusive() -> None:
    assert validate_id("x" * ids.MAX_ID_LENGTH)
    with pytest.raises(InvalidIdError, match="longer than"):
        validate_id("x" * (ids.MAX_ID_LENGTH + 1))


@given(st.text(min_size=1, max_size=40))
def test_validated_ids_are_single_safe_path_components(value: str) -> None:
    try:
        validate_id(value)
    except InvalidIdError:
        return
    assert value not in (".", "..")
    assert "/" not in value and "\\" not in value and "\x00" not in value
    assert not value.startswith(".")
    assert os.path.basename(value) == value
