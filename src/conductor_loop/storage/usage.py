"""Token and cost figures of a run, and their totals over runs.

Every figure is optional: a backend reports what it knows, and a figure nobody reported
stays unknown (None) instead of reading as zero. ``input_tokens`` counts all input the
model was given, cached or not; ``cached_input_tokens`` is the part of it read from a
prompt cache. In run-info.yaml the figures are a nested mapping that lists only the
known ones::

    usage:
      input_tokens: 1200
      output_tokens: 35
      cached_input_tokens: 1000
      cost_usd: 0.00123
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

USAGE_KEY = "usage"
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens")
FIELDS = (*TOKEN_FIELDS, "cost_usd")


@dataclass(slots=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    cost_usd: float | None = None

    @property
    def known(self) -> bool:
        """Whether any figure is known."""
        return any(getattr(self, name) is not None for name in FIELDS)

    def to_dict(self) -> dict[str, int | float]:
        """The known figures only."""
        return {name: value for name in FIELDS if (value := getattr(self, name)) is not None}

    def to_yaml_lines(self) -> list[str]:
        """The ``usage:`` block of run-info.yaml; no lines when nothing is known."""
        figures = self.to_dict()
        if not figures:
            return []
        lines = [f"{USAGE_KEY}:"]
        for name, value in figures.items():
            text = _float_text(value) if isinstance(value, float) else str(value)
            lines.append(f"  {name}: {text}")
        return lines

    @classmethod
    def of(
        cls,
        input_tokens: Any = None,
        output_tokens: Any = None,
        cached_input_tokens: Any = None,
        cost_usd: Any = None,
    ) -> Usage:
        """Figures as given, each kept only if it is a plausible value (else unknown)."""
        return cls(
            input_tokens=_count(input_tokens),
            output_tokens=_count(output_tokens),
            cached_input_tokens=_count(cached_input_tokens),
            cost_usd=_amount(cost_usd),
        )

    @classmethod
    def from_mapping(cls, data: Any) -> Usage | None:
        """From a loaded ``usage`` mapping (values may be strings); None if nothing is known.

        Tolerant: a figure that is not a number is left unknown rather than making the
        whole run record unreadable.
        """
        if not isinstance(data, Mapping):
            return None
        get = data.get
        # Read for every run at a server's start: no generic helpers here.
        input_tokens = _read_count(get("input_tokens"))
        output_tokens = _read_count(get("output_tokens"))
        cached_input_tokens = _read_count(get("cached_input_tokens"))
        cost_usd = _amount(_number(get("cost_usd")))
        if (input_tokens, output_tokens, cached_input_tokens, cost_usd) == (None, None, None, None):
            return None
        return cls(input_tokens, output_tokens, cached_input_tokens, cost_usd)

    def __add__(self, other: Usage) -> Usage:
        """Figure by figure; a figure is known in the sum when known in either part."""
        return Usage(*(_plus(getattr(self, name), getattr(other, name)) for name in FIELDS))


def total(usages: Iterable[Usage | None]) -> Usage:
    """The sum of the runs' figures (unknown ones skipped); empty when none is known."""
    result = Usage()
    for usage in usages:
        if usage is not None:
            result = result + usage
    return result


def _plus(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0 or value != int(value):
        return None
    return int(value)


def _amount(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return float(value)


def _read_count(value: Any) -> int | None:
    if isinstance(value, str):
        return int(value) if value.isascii() and value.isdigit() else None
    return _count(value)


def _number(value: Any) -> Any:
    """A number from a loaded YAML value (a string under the base loader)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return value


def _float_text(value: float) -> str:
    """``repr`` (exact round trip), with a ``.`` in the mantissa so that YAML 1.1
    loaders such as PyYAML read ``1e-05`` as the float it is, not as a string."""
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        return f"{mantissa}.0e{exponent}"
    return text
