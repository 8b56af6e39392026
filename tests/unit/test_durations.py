"""``parse_duration``: the duration syntax every CLI flag and config key accepts."""

from __future__ import annotations

import pytest

from conductor_loop.durations import parse_duration
from conductor_loop.errors import InvalidRequestError


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1s", 1.0),
        ("500ms", 0.5),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("1m30s500ms", 90.5),
        ("2.5s", 2.5),
        ("10", 10.0),
        ("0.25", 0.25),
        ("0", 0.0),
        (" 5m ", 300.0),
        (3, 3.0),
        (1.5, 1.5),
    ],
)
def test_parse_duration_accepts(value: str | float, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    ["", "   ", "abc", "5x", "s", "1s5", "5 m", "1s 2s", "-1s", "-3", "nan", "inf", True, -0.5],
)
def test_parse_duration_rejects_with_the_name_of_the_setting(value: str | float) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_duration(value, "--timeout")
    assert "--timeout" in str(info.value)
