"""Durations as users write them: ``1s``, ``500ms``, ``5m``, ``1h30m``, ``7d`` or plain seconds."""

from __future__ import annotations

import re

from conductor_loop.errors import InvalidRequestError

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
# The strings parse_duration takes, as documented (OpenAPI): seconds, or unit parts.
PATTERN = r"^\s*(?:\d+(?:\.\d+)?|(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+)\s*$"


def parse_duration(value: str | float | int, what: str = "duration") -> float:
    """Seconds in ``value``; raises InvalidRequestError naming ``what`` on bad input."""
    if isinstance(value, bool):
        raise InvalidRequestError(f"{what}: expected a duration, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            pos = 0
            seconds = 0.0
            for match in _PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
                pos = match.end()
            if pos != len(text) or not text:
                raise InvalidRequestError(
                    f"{what}: {value!r} is not a duration (use e.g. 500ms, 10s, 5m, 1h)"
                ) from None
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise InvalidRequestError(f"{what}: must be a finite, non-negative duration")
    return seconds
