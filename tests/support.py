"""Values and helpers shared by test modules (``from tests.support import ...``).

Fixtures live in conftest.py; plain values and functions here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from conductor_loop.config.models import AgentConfig
from conductor_loop.config.validation import validate

T = TypeVar("T")

# An absolute path used as an id: a test can check it never comes to exist.
OUTSIDE_ROOT = "/tmp/conductor-loop-hostile-absolute"

# Hostile ids: every one must be rejected wherever an id becomes a path component.
HOSTILE_IDS: list[tuple[str, str]] = [
    ("dotdot", ".."),
    ("dot", "."),
    ("parent-prefix", "../x"),
    ("slash", "a/b"),
    ("absolute", OUTSIDE_ROOT),
    ("backslash", "a\\b"),
    ("nul", "a\x00b"),
    ("leading-dot", ".hidden"),
    ("too-long", "x" * 200),
    ("empty", ""),
    ("padded", " padded "),
    ("trailing-space", "tail "),
    ("newline", "a\nb"),
    ("tab", "a\tb"),
]
HOSTILE_ID_LABELS = [label for label, _ in HOSTILE_IDS]
# One of each kind of problem (a leading dot, a path separator, a control character).
# tests/unit/test_ids.py runs the validator over the whole table; every entry point (each
# CLI command, API route family, RunsRoot method) is shown to reject these, which proves
# it calls the validator.
_SAMPLES = ("parent-prefix", "absolute", "newline")
SAMPLE_HOSTILE_IDS = [(label, value) for label, value in HOSTILE_IDS if label in _SAMPLES]
SAMPLE_HOSTILE_LABELS = [label for label, _ in SAMPLE_HOSTILE_IDS]
# What the error message must say about each one.
HOSTILE_ID_PROBLEMS = {
    "dotdot": "must not start with a dot",
    "dot": "must not start with a dot",
    "parent-prefix": "must not start with a dot",
    "slash": "forbidden characters",
    "absolute": "forbidden characters",
    "backslash": "forbidden characters",
    "nul": "forbidden characters",
    "leading-dot": "must not start with a dot",
    "too-long": "longer than",
    "empty": "must not be empty",
    "padded": "whitespace",
    "trailing-space": "whitespace",
    "newline": "control characters",
    "tab": "control characters",
}


def tree(path: Path) -> list[str]:
    """Every path under ``path``, relative and sorted: to assert nothing was created."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def suite_requested(config: pytest.Config, directory: Path, marker: str, env_var: str) -> bool:
    """Whether an opt-in suite (docker, e2e) was asked for: by ``-m <marker>``, by a
    non-empty, non-zero ``env_var``, or by naming its directory or a file in it."""
    if re.search(rf"\b{marker}\b", config.getoption("markexpr", "") or ""):
        return True
    if os.environ.get(env_var, "") not in ("", "0"):
        return True
    for arg in config.args:
        path = Path(arg.split("::", 1)[0]).resolve()
        if path == directory or directory in path.parents:
            return True
    return False


def validate_agent(data: dict[str, Any]) -> AgentConfig:
    """An agent section checked as the config loader checks it (durations converted...)."""
    return validate(AgentConfig, data, "test config")


def wait_until(
    check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.01
) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def run_cli(
    exe: Path,
    *args: str,
    cwd: Path | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run a console script to completion (stdin closed unless ``stdin`` is given)."""
    return subprocess.run(
        [str(exe), *args],
        cwd=cwd,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        env=None if env is None else os.environ | env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Tmpfs:
    """A small tmpfs mounted for one test (needs root): a disk that can be filled or made
    read-only at will, for the full-disk and read-only-disk cases. ``close`` unmounts
    everything it mounted."""

    def __init__(self, path: Path, size: str = "4m") -> None:
        self.path = path
        self.size = size
        self._mounts: list[Path] = []

    def mount(self) -> Tmpfs:
        self.path.mkdir(parents=True, exist_ok=True)
        _mount("-t", "tmpfs", "-o", f"size={self.size},mode=0755", "tmpfs", str(self.path))
        self._mounts.append(self.path)
        return self

    def fill(self) -> None:
        """Take every free block: new files and new blocks fail with ENOSPC from now on
        (a file whose last block has room can still grow into that room)."""
        fd = os.open(self.path / ".filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (1 << 16, 4096, 512, 1):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * chunk)
        finally:
            os.close(fd)
        probe = os.open(self.path / ".probe", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.write(probe, b"x")
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        else:
            raise AssertionError(f"{self.path} is not full after filling it")
        finally:
            os.close(probe)
            os.unlink(self.path / ".probe")

    def free(self) -> None:
        (self.path / ".filler").unlink(missing_ok=True)

    def read_only(self) -> None:
        """Remount the whole disk read-only (fails while a file on it is open for writing)."""
        _mount("-o", "remount,ro", str(self.path))

    def bind_read_only(self, directory: Path) -> None:
        """Make ``directory`` read-only for every new open, create or rename under it,
        while files already open for writing there stay writable (a bind mount of it
        over itself, remounted read-only)."""
        _mount("--bind", str(directory), str(directory))
        self._mounts.append(directory)
        _mount("-o", "remount,bind,ro", str(directory))

    def close(self) -> None:
        for path in reversed(self._mounts):
            done = subprocess.run(["umount", str(path)], capture_output=True, check=False)
            if done.returncode != 0:  # still busy (a process has its cwd there): detach it
                subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
        self._mounts.clear()


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError(f"mount {' '.join(args)} failed: {done.stderr.strip()}")


class HeldLock:
    """The bus file's flock, held by the test the way another process's append holds it."""

    def __init__(self, bus: Path) -> None:
        bus.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(bus, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
