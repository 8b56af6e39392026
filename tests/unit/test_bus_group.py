"""Group commit (bus.group): posts that arrive together share one locked write and fsync,
each poster returns only once the write covering its message is done, a failed write
stores none of its batch, and other processes' appends interleave whole."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from conductor_loop.bus import Message, read_all
from conductor_loop.bus import writer as writer_module
from conductor_loop.bus.group import GroupCommitter, GroupCommitters
from conductor_loop.errors import StorageError
from tests.integration.workers import SCRIPT as WORKERS
from tests.integration.workers import make_body
from tests.support import HeldLock, Tmpfs, wait_until


def _msg(poster: str, seq: int, size: int = 80) -> Message:
    return Message(
        "PROGRESS",
        "proj",
        body=make_body(poster, seq, size),
        task_id="task",
        meta={"writer": poster, "seq": str(seq)},
    )


def _post_in_thread(
    committer: GroupCommitter, msg: Message
) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def post() -> None:
        try:
            outcome.append(committer.append(msg))
        except Exception as exc:  # checked by the test
            outcome.append(exc)

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread, outcome


def test_posts_that_arrive_together_share_one_write_and_one_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = tmp_path / "TASK-MESSAGE-BUS.md"
    fsyncs: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        fsyncs.append(os.fstat(fd).st_size)
        real_fsync(fd)

    monkeypatch.setattr(writer_module.os, "fsync", counting_fsync)
    committer = GroupCommitter(bus, fsync=True)
    held = HeldLock(bus)
    first, first_outcome = _post_in_thread(committer, _msg("p0", 1))
    wait_until(lambda: committer.leading, 10, "the first poster to lead")
    posters = [_post_in_thread(committer, _msg(f"p{i}", 1)) for i in range(1, 8)]
    wait_until(lambda: committer.pending == 7, 10, "seven posters queued behind the leader")
    # Nobody got an answer while the write covering its message could not be made.
    assert first_outcome == [] and all(outcome == [] for _, outcome in posters)
    assert bus.stat().st_size == 0
    held.release()
    for thread, _ in [(first, first_outcome), *posters]:
        thread.join(10)
    assert all(isinstance(o[0], Message) for _, o in [(first, first_outcome), *posters])
    assert committer.batches == 2  # the leader's own message, then the seven together
    assert len(fsyncs) == 2 and fsyncs[-1] == bus.stat().st_size
    messages = read_all(bus)
    assert [m.meta["writer"] for m in messages] == [f"p{i}" for i in range(8)]
    assert len({m.msg_id for m in messages}) == 8


def test_a_failed_write_fails_every_post_in_its_batch_and_stores_none(
    tmpfs: Tmpfs,
) -> None:
    bus = tmpfs.path / "proj" / "PROJECT-MESSAGE-BUS.md"
    committer = GroupCommitter(bus, root=tmpfs.path)
    committer.append(_msg("before", 1))
    size = bus.stat().st_size
    tmpfs.fill()
    held = HeldLock(bus)  # the posts queue up into one batch behind a first one
    first = _post_in_thread(committer, _msg("p0", 1, 20_000))
    wait_until(lambda: committer.leading, 10, "the first poster to lead")
    rest = [_post_in_thread(committer, _msg(f"p{i}", 1, 20_000)) for i in range(1, 5)]
    wait_until(lambda: committer.pending == 4, 10, "four posters queued")
    held.release()
    for thread, _ in [first, *rest]:
        thread.join(10)
    for _, outcome in [first, *rest]:
        (error,) = outcome
        assert isinstance(error, StorageError) and error.code == "storage_full", error
        assert str(bus) in error.message
    assert committer.batches == 3
    assert bus.stat().st_size == size  # no torn record, nothing of either batch
    tmpfs.free()
    committer.append(_msg("after", 1))
    assert [m.meta["writer"] for m in read_all(bus)] == ["before", "after"]


def test_threads_and_other_processes_append_together_each_message_once(
    tmp_path: Path, run_agent_exe: Path
) -> None:
    bus = tmp_path / "proj" / "task" / "TASK-MESSAGE-BUS.md"
    bus.parent.mkdir(parents=True)
    committer = GroupCommitter(bus, fsync=True, root=tmp_path)
    start = tmp_path / "go"
    writer_proc = subprocess.Popen(
        [sys.executable, str(WORKERS), "bus-writer", str(bus), "--writer", "proc",
         "--count", "300", "--start-file", str(start)],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    cli_posts = 15
    cli = subprocess.Popen(
        [
            "/bin/sh",
            "-c",
            f'for i in $(seq 1 {cli_posts}); do "$0" bus post --bus "$1" --project proj '
            '--task task --type NOTE --body "cli:$i" || exit 1; done',
            str(run_agent_exe),
            str(bus),
        ],
        stderr=subprocess.PIPE,
    )
    threads_count, per_thread = 6, 150

    def poster(name: str) -> None:
        for seq in range(1, per_thread + 1):
            committer.append(_msg(name, seq, 40 + seq % 300))

    threads = [
        threading.Thread(target=poster, args=(f"t{i}",), daemon=True) for i in range(threads_count)
    ]
    start.touch()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for proc in (writer_proc, cli):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    messages = read_all(bus)
    assert len({m.msg_id for m in messages}) == len(messages)
    cli_bodies = [m.body for m in messages if m.type == "NOTE"]
    assert cli_bodies == [f"cli:{i}" for i in range(1, cli_posts + 1)]
    seqs: dict[str, list[int]] = defaultdict(list)
    for msg in messages:
        if msg.type == "NOTE":
            continue
        poster_name, seq = msg.meta["writer"], int(msg.meta["seq"])
        assert msg.body == make_body(poster_name, seq, len(msg.body)), f"{poster_name} #{seq}"
        seqs[poster_name].append(seq)
    assert seqs.pop("proc") == list(range(1, 301))
    assert seqs == {f"t{i}": list(range(1, per_thread + 1)) for i in range(threads_count)}
    assert committer.batches <= threads_count * per_thread


def _open_here(path: Path) -> bool:
    fds = Path("/proc/self/fd")
    targets = []
    for fd in fds.iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:
            continue
    return str(path) in targets


def test_the_file_stays_open_between_posts_and_is_closed_once_idle(tmp_path: Path) -> None:
    bus = tmp_path / "TASK-MESSAGE-BUS.md"
    committer = GroupCommitter(bus)
    committer.append(_msg("p0", 1))
    assert _open_here(bus)  # the next post skips the open
    committer.close_if_idle(time.monotonic(), idle=60)
    assert _open_here(bus)  # not idle long enough
    committer.close_if_idle(time.monotonic() + 61, idle=60)
    assert not _open_here(bus)
    committer.append(_msg("p0", 2))
    assert [m.meta["seq"] for m in read_all(bus)] == ["1", "2"]


# ----- async posters (the server's request handlers: append_async)


async def _until(check: Callable[[], bool], what: str) -> None:
    """wait_until for a coroutine: polls without blocking the loop the posters run on."""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def test_async_posts_that_arrive_together_share_one_write_and_answer_once_written(
    tmp_path: Path,
) -> None:
    bus = tmp_path / "TASK-MESSAGE-BUS.md"
    committers = GroupCommitters(fsync=True)
    held = HeldLock(bus)

    async def scenario() -> None:
        first = asyncio.create_task(committers.append_async(bus, _msg("p0", 1)))
        committer = committers.for_path(bus)
        await _until(lambda: committer.leading, "a writer thread to take the first post")
        rest = [
            asyncio.create_task(committers.append_async(bus, _msg(f"p{i}", 1))) for i in range(1, 8)
        ]
        await _until(lambda: committer.pending == 7, "seven posts queued behind it")
        # No poster is answered while the write covering its message cannot be made.
        assert not any(task.done() for task in [first, *rest])
        assert bus.stat().st_size == 0
        held.release()
        results = await asyncio.wait_for(asyncio.gather(first, *rest), 10)
        assert all(isinstance(m, Message) for m in results)
        assert committer.batches == 2

    asyncio.run(scenario())
    messages = read_all(bus)
    assert [m.meta["writer"] for m in messages] == [f"p{i}" for i in range(8)]
    assert len({m.msg_id for m in messages}) == 8


def test_a_failed_write_fails_every_async_post_in_its_batch(tmpfs: Tmpfs) -> None:
    bus = tmpfs.path / "proj" / "PROJECT-MESSAGE-BUS.md"
    committers = GroupCommitters(root=tmpfs.path)
    committers.append(bus, _msg("before", 1))
    size = bus.stat().st_size
    tmpfs.fill()
    held = HeldLock(bus)

    async def scenario() -> list[BaseException | Message]:
        first = asyncio.create_task(committers.append_async(bus, _msg("p0", 1, 20_000)))
        committer = committers.for_path(bus)
        await _until(lambda: committer.leading, "a writer thread to take the first post")
        rest = [
            asyncio.create_task(committers.append_async(bus, _msg(f"p{i}", 1, 20_000)))
            for i in range(1, 5)
        ]
        await _until(lambda: committer.pending == 4, "four posts queued")
        held.release()
        return await asyncio.wait_for(asyncio.gather(first, *rest, return_exceptions=True), 10)

    for outcome in asyncio.run(scenario()):
        assert isinstance(outcome, StorageError) and outcome.code == "storage_full", outcome
        assert str(bus) in outcome.message
    assert bus.stat().st_size == size
    tmpfs.free()
    committers.append(bus, _msg("after", 1))
    assert [m.meta["writer"] for m in read_all(bus)] == ["before", "after"]


def test_a_cancelled_async_post_is_still_stored_once(tmp_path: Path) -> None:
    """A handler whose client went away may be cancelled: its message, already queued,
    is written once, like the others in its batch, and nothing waits on it."""
    bus = tmp_path / "TASK-MESSAGE-BUS.md"
    committers = GroupCommitters()
    held = HeldLock(bus)

    async def scenario() -> None:
        gone = asyncio.create_task(committers.append_async(bus, _msg("gone", 1)))
        committer = committers.for_path(bus)
        await _until(lambda: committer.leading, "a writer thread to take the post")
        stays = asyncio.create_task(committers.append_async(bus, _msg("stays", 1)))
        await _until(lambda: committer.pending == 1, "the second post queued")
        gone.cancel()
        held.release()
        await asyncio.wait_for(stays, 10)
        assert gone.cancelled()

    asyncio.run(scenario())
    assert [m.meta["writer"] for m in read_all(bus)] == ["gone", "stays"]


def test_thread_and_async_posters_mixed_each_land_once_in_order(tmp_path: Path) -> None:
    """A thread poster leads its own batch and hands over to the pool for async ones, and
    the pool hands over to a thread poster: neither waits forever, each message once."""
    bus = tmp_path / "TASK-MESSAGE-BUS.md"
    committers = GroupCommitters()
    per_poster = 60

    def thread_poster(name: str) -> None:
        for seq in range(per_poster):
            committers.append(bus, _msg(name, seq))

    async def async_poster(name: str) -> None:
        for seq in range(per_poster):
            await committers.append_async(bus, _msg(name, seq))

    async def scenario() -> None:
        threads = [threading.Thread(target=thread_poster, args=(f"t{i}",)) for i in range(3)]
        for thread in threads:
            thread.start()
        await asyncio.wait_for(asyncio.gather(*(async_poster(f"a{i}") for i in range(5))), 60)
        for thread in threads:
            await asyncio.to_thread(thread.join, 60)

    asyncio.run(scenario())
    order: dict[str, list[int]] = defaultdict(list)
    messages = read_all(bus)
    for msg in messages:
        order[msg.meta["writer"]].append(int(msg.meta["seq"]))
    assert len({m.msg_id for m in messages}) == len(messages) == 8 * per_poster
    assert order == {
        n: list(range(per_poster))
        for n in [f"t{i}" for i in range(3)] + [f"a{i}" for i in range(5)]
    }
