"""Reading agents' JSON-lines stdout.

Agent CLIs interleave their event stream with whatever else reaches stdout (warnings,
progress bars, a stray ``print``), and a run that is killed may end on half a line. The
parsers therefore see only the lines that decode to a JSON object and skip the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def json_events(text: str) -> Iterator[dict[str, Any]]:
    """Each line of ``text`` that is a JSON object, in order; anything else is skipped."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("{"):
            continue
        try:
            event = json.loads(stripped)
        except ValueError:
            continue
        if isinstance(event, dict):
            yield event


def as_int(value: Any) -> int | None:
    """``value`` if it is a whole number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
