"""The queue on disk: a waiting task is a ``QUEUED`` marker in its directory (the index
reads it too).

The marker (JSON) holds the loop's settings, when and in which order it was queued and
which tasks it waits for, so a restarted server — or another replica — sees the same
queue. Starting a queued task first renames its marker (``claim``), which only one
process can do.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conductor_loop.orchestration.index import QUEUED_FILE
from conductor_loop.runner.budget import BUDGET_ACTIONS
from conductor_loop.storage.atomic import atomic_write_text
from conductor_loop.storage.containment import open_nofollow
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import iso_utc


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """How the server starts a task's loop (``run-agent task`` options); None: the
    config's default."""

    agent: str | None = None
    max_restarts: int | None = None
    restart_delay: float | None = None
    timeout: float | None = None
    cwd: str | None = None
    depends_on: tuple[str, ...] = ()
    max_cost_usd: float | None = None
    max_tokens: int | None = None
    budget_action: str | None = None
    resume: bool = False  # continue the task as it is (``run-agent task resume``)

    def to_marker(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "agent": self.agent,
            "max_restarts": self.max_restarts,
            "restart_delay": self.restart_delay,
            "timeout": self.timeout,
            "cwd": self.cwd,
            "depends_on": list(self.depends_on),
            "max_cost_usd": self.max_cost_usd,
            "max_tokens": self.max_tokens,
            "budget_action": self.budget_action,
        }
        if self.resume:
            data["resume"] = True
        return data

    @classmethod
    def from_marker(cls, data: dict[str, Any] | None) -> LoopSettings:
        """The settings of a marker; a value of the wrong type (the file is on disk, for
        anyone to edit) counts as not given."""
        data = data or {}
        action = data.get("budget_action")
        return cls(
            agent=_text(data.get("agent")),
            max_restarts=_count(data.get("max_restarts")),
            restart_delay=_number(data.get("restart_delay")),
            timeout=_number(data.get("timeout")),
            cwd=_text(data.get("cwd")),
            depends_on=marker_dependencies(data),
            max_cost_usd=_number(data.get("max_cost_usd")),
            max_tokens=_count(data.get("max_tokens")),
            budget_action=action if action in BUDGET_ACTIONS else None,
            resume=data.get("resume") is True,
        )


def marker_dependencies(marker: dict[str, Any] | None) -> tuple[str, ...]:
    """The tasks a queue marker waits for."""
    deps = (marker or {}).get("depends_on")
    return tuple(d for d in deps if isinstance(d, str)) if isinstance(deps, list) else ()


def write_marker(root: RunsRoot, task_dir: Path, settings: LoopSettings, seq: int) -> None:
    """Queue the task (``seq``: this process's order, after the time)."""
    marker = dict(settings.to_marker(), queued_at=iso_utc(), seq=seq, pid=os.getpid())
    atomic_write_text(
        task_dir / QUEUED_FILE, json.dumps(marker) + "\n", fsync=False, root=root.path
    )


def claim(task_dir: Path) -> Path | None:
    """Take the task off the queue to start it: the renamed marker (to remove once the
    loop is started), or None if another process took it first or it was stopped."""
    claimed = task_dir / f".{QUEUED_FILE}.claim-{os.getpid()}"
    try:
        os.rename(task_dir / QUEUED_FILE, claimed)
    except FileNotFoundError:
        return None
    return claimed


def dequeue(task_dir: Path) -> bool:
    """Remove the task from the queue; False if it was not queued."""
    try:
        os.unlink(task_dir / QUEUED_FILE)
    except FileNotFoundError:
        return False
    return True


def waiting_on_disk(root: RunsRoot, project_id: str) -> dict[str, tuple[str, ...]]:
    """The project's queued tasks and what each waits for, read from their markers (for
    callers without the server's index)."""
    waiting: dict[str, tuple[str, ...]] = {}
    try:
        entries = list(os.scandir(root.project_dir(project_id)))
    except (FileNotFoundError, NotADirectoryError):
        return waiting
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            with open(
                Path(entry.path) / QUEUED_FILE, encoding="utf-8", opener=open_nofollow
            ) as handle:
                marker = json.loads(handle.read() or "{}")
        except (OSError, ValueError):
            continue
        if isinstance(marker, dict):
            waiting[entry.name] = marker_dependencies(marker)
    return waiting


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    """A number not below 0, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if value >= 0 else None


def _count(value: Any) -> int | None:
    """A whole number not below 0, else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if value >= 0 else None
