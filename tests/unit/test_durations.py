"""Durations: the one syntax every CLI flag, config key and API field accepts."""

from __future__ import annotations

import re
from typing import Annotated

import click
import pytest
from click.testing import CliRunner
from pydantic import TypeAdapter, ValidationError

from conductor_loop.cli.common import DURATION
from conductor_loop.config.models import Duration, Seconds
from conductor_loop.durations import PATTERN, parse_duration
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


@pytest.mark.parametrize("value", ["10", "500ms", "5m", "1h", "1h30m", "2.5s", " 5m "])
def test_the_documented_pattern_describes_what_parses(value: str) -> None:
    """The OpenAPI schema documents duration strings with ``PATTERN``."""
    assert re.fullmatch(PATTERN, value)
    parse_duration(value)


@pytest.mark.parametrize("value", ["", "abc", "5x", "1s5", "5 m", "-1s"])
def test_the_pattern_rejects_what_does_not_parse(value: str) -> None:
    assert not re.fullmatch(PATTERN, value)


def test_the_click_type_converts_and_names_the_option() -> None:
    @click.command()
    @click.option("--timeout", type=DURATION)
    @click.option("--older-than", type=DURATION, default="7d")
    def show(timeout: float | None, older_than: float) -> None:
        click.echo(f"{timeout} {older_than}")

    runner = CliRunner()
    assert runner.invoke(show, ["--timeout", "5m"]).output == "300.0 604800.0\n"
    assert runner.invoke(show, ["--timeout", "90"]).output == "90.0 604800.0\n"
    bad = runner.invoke(show, ["--timeout", "soon"])
    assert bad.exit_code == 2
    assert "--timeout" in bad.output and "'soon' is not a duration" in bad.output


def test_the_pydantic_type_takes_numbers_and_strings_but_not_booleans() -> None:
    adapter = TypeAdapter(Seconds)
    assert adapter.validate_python("5m") == 300.0
    assert adapter.validate_python(2) == 2.0
    assert adapter.validate_json('"500ms"') == 0.5
    for bad in (True, "soon", -1, "-1s"):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)
    schema = adapter.json_schema()
    types = {s["type"] for s in schema["anyOf"]}
    assert types == {"number", "string"}


def test_a_bounded_duration_documents_and_checks_its_bound() -> None:
    adapter = TypeAdapter(Annotated[float, Duration(le=60)])
    assert adapter.validate_python("1m") == 60.0
    with pytest.raises(ValidationError, match="less than or equal to 60"):
        adapter.validate_python("61s")
    number = next(s for s in adapter.json_schema()["anyOf"] if s["type"] == "number")
    assert number == {"type": "number", "minimum": 0, "maximum": 60}
