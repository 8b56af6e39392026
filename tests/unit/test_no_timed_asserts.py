"""Tests check correctness, benchmarks measure (issue 13): no test passes or fails on how long
something took. A deadline that only guards against a hang is fine (``clock() < deadline``,
``wait_until(..., 30, ...)``); a measured duration in an assert is not, nor is a deadline so
short that it is really a latency target."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
CLOCKS = {"monotonic", "perf_counter", "time", "monotonic_ns", "perf_counter_ns", "time_ns"}
# wait_until's deadline below this many seconds reads as "fast enough", not "not hung".
SHORTEST_GUARD = 3.0


def _is_clock_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in CLOCKS and (
        not isinstance(func, ast.Attribute) or getattr(func.value, "id", "") == "time"
    )


def _measures(node: ast.AST, durations: set[str]) -> bool:
    """Whether ``node`` holds a duration: clock() - x, or a name assigned one."""
    for sub in ast.walk(node):
        if (
            isinstance(sub, ast.BinOp)
            and isinstance(sub.op, ast.Sub)
            and any(_is_clock_call(side) for side in ast.walk(sub))
        ):
            return True
        if isinstance(sub, ast.Name) and sub.id in durations:
            return True
    return False


def _offences(path: Path, root: Path = TESTS) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    where = path.relative_to(root)
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        durations: set[str] = set()
        for node in ast.walk(func):
            if isinstance(node, ast.Assign) and _measures(node.value, durations):
                durations.update(t.id for t in node.targets if isinstance(t, ast.Name))
            if (  # delays.append(clock() - started)
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "append"
                and isinstance(node.func.value, ast.Name)
                and any(_measures(arg, durations) for arg in node.args)
            ):
                durations.add(node.func.value.id)
        for node in ast.walk(func):
            if isinstance(node, ast.Assert) and any(
                isinstance(sub, ast.Compare) and _measures(sub, durations)
                for sub in ast.walk(node.test)
            ):
                found.append(f"{where}:{node.lineno}: asserts a duration")
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == "wait_until"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, int | float)
                and node.args[1].value < SHORTEST_GUARD
            ):
                found.append(
                    f"{where}:{node.lineno}: wait_until with a "
                    f"{node.args[1].value}s deadline (a latency target, not a hang guard)"
                )
    return found


def test_no_test_asserts_a_time() -> None:
    offences = [o for path in sorted(TESTS.rglob("*.py")) for o in _offences(path)]
    assert not offences, "time it in bench/, check behaviour here:\n" + "\n".join(offences)


@pytest.mark.parametrize(
    "source",
    [
        "def t():\n    started = time.monotonic()\n    f()\n"
        "    assert time.monotonic() - started < 5\n",
        "def t():\n    s = time.perf_counter()\n    f()\n    took = time.perf_counter() - s\n"
        "    assert took < 1\n",
        "def t():\n    wait_until(lambda: f(), 1.0, 'fast')\n",
        "def t():\n    d = []\n    for _ in range(3):\n        s = time.monotonic()\n"
        "        d.append(time.monotonic() - s)\n    assert max(d) < 0.25\n",
    ],
)
def test_the_check_sees_a_timed_assert(tmp_path: Path, source: str) -> None:
    path = tmp_path / "example.py"
    path.write_text(source, encoding="utf-8")
    assert _offences(path, tmp_path)


def test_the_check_allows_a_hang_guard(tmp_path: Path) -> None:
    source = (
        "def t():\n    deadline = time.monotonic() + 30\n"
        "    while not f():\n        assert time.monotonic() < deadline, 'hung'\n"
        "    wait_until(f, 30, 'f')\n"
    )
    path = tmp_path / "example.py"
    path.write_text(source, encoding="utf-8")
    assert _offences(path, tmp_path) == []
