"""storage.inotify: directory watches report the changed paths, without polling."""

from __future__ import annotations

from pathlib import Path

import pytest

from conductor_loop.storage import inotify

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux only")


def _read_until(watch: inotify.Inotify, wanted: str) -> set[str]:
    seen: set[str] = set()
    for _ in range(50):
        seen |= watch.read(0.1)
        if wanted in seen:
            break
    return seen


def test_changes_in_watched_directories_are_reported_by_path(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    watch = inotify.Inotify()
    try:
        assert watch.add(str(a)) and watch.add(str(b))
        assert not watch.add(str(tmp_path / "missing"))
        assert watch.read(0) == set()
        (a / "out.txt").write_text("line\n", encoding="utf-8")
        assert str(a / "out.txt") in _read_until(watch, str(a / "out.txt"))
        watch.remove(str(a))
        (a / "later.txt").write_text("x", encoding="utf-8")
        (b / "other.txt").write_text("y", encoding="utf-8")
        seen = _read_until(watch, str(b / "other.txt"))
        assert str(b / "other.txt") in seen and str(a / "later.txt") not in seen
        (b / "other.txt").unlink()
        b.rmdir()
        assert str(b) in _read_until(watch, str(b))
        for _ in range(20):
            if not watch.watched:
                break
            watch.read(0.05)
        assert watch.watched == set()  # the removed directory's watch ended
    finally:
        watch.close()
