"""Usage figures as the API shows them: per run, and totals over runs.

A run's ``usage`` is null when it reported nothing, else all four figures with null for
the unknown ones. A total adds what is known and says how many runs reported anything
(``runs``), so that a reader can tell a partial total from a complete one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from conductor_loop.storage.runinfo import RunInfo
from conductor_loop.storage.usage import FIELDS, Usage, total


def run_usage(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {name: getattr(usage, name) for name in FIELDS}


def usage_total(infos: Iterable[RunInfo]) -> dict[str, Any]:
    known = [info.usage for info in infos if info.usage is not None]
    summed = total(known)
    return {**{name: getattr(summed, name) for name in FIELDS}, "runs": len(known)}
