"""How many workers ``conductor`` starts by default: one per core it may use."""

from __future__ import annotations

import os
from pathlib import Path

from conductor_loop.api.server import worker_count


def test_configured_count_wins(tmp_path: Path) -> None:
    assert worker_count(3, tmp_path / "absent") == 3


def test_default_is_the_usable_cores(tmp_path: Path) -> None:
    assert worker_count(0, tmp_path / "absent") == len(os.sched_getaffinity(0))


def test_a_cgroup_quota_lowers_the_default(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("100000 100000\n", encoding="ascii")
    assert worker_count(0, cpu_max) == 1
    cpu_max.write_text("150000 100000\n", encoding="ascii")
    assert worker_count(0, cpu_max) == min(2, len(os.sched_getaffinity(0)))
    cpu_max.write_text("max 100000\n", encoding="ascii")
    assert worker_count(0, cpu_max) == len(os.sched_getaffinity(0))
