"""``storage.yamlish``: every scalar we write reads back as the same string under PyYAML."""

from __future__ import annotations

import string

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conductor_loop.storage.yamlish import (
    _NON_STRING,
    _PLAIN_SAFE,
    _parse_fast,
    parse_block,
    scalar,
)

LOADERS = [yaml.CSafeLoader, yaml.CBaseLoader, yaml.SafeLoader]
_RESOLVER = yaml.resolver.Resolver()

# Text that looks like YAML of every kind, plus characters YAML treats specially.
_TRICKY = [
    "",
    " ",
    "true",
    "yes",
    "No",
    "off",
    "~",
    "null",
    "0",
    "-1",
    "0o17",
    "017",
    "0x1F",
    "0b101",
    "1_000",
    "1:20",
    "1.5",
    ".5",
    "1e5",
    "1.0e+5",
    ".inf",
    "-.Inf",
    ".NaN",
    "2026-02-23",
    "2026-2-3 4:05:06",
    "2026-02-23T19:17:10Z",
    "<<",
    "=",
    "key: value",
    "a:",
    "a::",
    "- item",
    "-",
    "? q",
    "#comment",
    "a #b",
    "[1, 2]",
    "{a: 1}",
    "&anchor",
    "*alias",
    "!tag",
    "|",
    ">",
    "%YAML",
    "@x",
    "`x",
    "'single'",
    '"double"',
    "back\\slash",
    "line\nbreak",
    "\r\n",
    "tab\there",
    "trailing ",
    " leading",
    "nul\x00",
    "del\x7f",
    "nel\x85",
    "ls\u2028ps\u2029",
    "bom\ufeff",
    "emoji 🚀",
    "\ufffe\uffff",
    "---",
    "...",
]


@pytest.mark.parametrize("value", _TRICKY)
@pytest.mark.parametrize("loader", LOADERS, ids=lambda loader: loader.__name__)
def test_scalar_round_trips_tricky_values(value: str, loader: type) -> None:
    assert yaml.load("k: " + scalar(value), Loader=loader)["k"] == value


@given(st.text())
@example("a:")
@example("x" + "\u2028")
def test_scalar_round_trips_under_safe_and_base_loaders(value: str) -> None:
    text = "k: " + scalar(value)
    assert yaml.load(text, Loader=yaml.CSafeLoader)["k"] == value
    assert yaml.load(text, Loader=yaml.CBaseLoader)["k"] == value


@given(st.text(), st.text())
@example("a:", "b")
def test_scalar_keys_and_values_round_trip_in_a_nested_map(key: str, value: str) -> None:
    text = f"meta:\n  {scalar(key)}: {scalar(value)}\n"
    assert yaml.load(text, Loader=yaml.CSafeLoader) == {"meta": {key: value}}
    assert parse_block(text) == {"meta": {key: value}}


# Plain-scalar candidates: the characters _PLAIN_SAFE allows, weighted toward the ones
# YAML's implicit resolvers care about (digits, signs, dots, colons, underscores).
_plainish = st.text(
    alphabet=st.sampled_from(string.digits * 3 + "+-._:eExXbBoO" + "aintyYnNfFlsu/@"),
    min_size=1,
    max_size=12,
)


# Every YAML 1.1 bool and null spelling, and number shapes of each implicit type.
# fmt: off
_RESOLVED_WORDS = [
    "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
    "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
    ".inf", ".Inf", ".INF", "-.inf", "+.Inf", ".nan", ".NaN", ".NAN",
    "0", "7", "-7", "+7", "1_000", "017", "0x1F", "-0x_1", "0b101", "+0b1_0", "190:20:30",
    "-1:5", "1.5", "-1.", ".5", "1.0e+5", "6.8523015e+5", "190:20:30.15",
    "2026-02-23", "2026-2-3T4:05:06", "2026-02-23T19:17:10Z",
]
# fmt: on


@pytest.mark.parametrize("value", _RESOLVED_WORDS)
def test_values_pyyaml_resolves_are_never_written_plain(value: str) -> None:
    assert _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) != "tag:yaml.org,2002:str"
    assert scalar(value) != value
    assert yaml.load("k: " + scalar(value), Loader=yaml.CSafeLoader)["k"] == value


@settings(max_examples=800)  # cheap, and the space of number-like strings is large
@given(st.one_of(_plainish, st.text(max_size=12)))
@example("0b1_0")
@example("+0x_")
@example("1:59.5")
@example("-1_0:5")
@example("2026-1-2T3:04:05.5")
def test_non_string_verdict_covers_pyyaml_resolver(value: str) -> None:
    tag = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))
    written_plain = scalar(value) == value
    if tag != "tag:yaml.org,2002:str":
        assert not written_plain, f"{value!r} resolves to {tag} but is written plain"
    if _PLAIN_SAFE.match(value) and not _NON_STRING.match(value):
        assert tag == "tag:yaml.org,2002:str"


def test_plain_values_stay_unquoted() -> None:
    # What ids and timestamps look like: written plain, so files stay readable.
    for value in ("MSG-20260223-191710-184887000-PID67946-0001", "demo", "a.b", "http://x/y"):
        assert scalar(value) == value


@given(
    st.dictionaries(
        st.text(min_size=1).filter(lambda k: k.strip() == k and k[0] not in "#-?"),
        # The writer never emits an empty nested map (``meta:`` with no entries).
        st.one_of(st.text(), st.dictionaries(st.text(), st.text(), min_size=1, max_size=4)),
        max_size=6,
    )
)
def test_parse_block_reads_what_scalar_writes(data: dict[str, object]) -> None:
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"{scalar(key)}:")
            lines.extend(f"  {scalar(k)}: {scalar(v)}" for k, v in value.items())
        else:
            lines.append(f"{scalar(key)}: {scalar(value)}")
    text = "\n".join(lines) + "\n"
    assert parse_block(text) == data


def test_parse_block_falls_back_to_yaml_for_foreign_text() -> None:
    text = "a: 'single quoted'\nb: [x, y]\nc: |\n  block\n"
    assert parse_block(text) == {"a": "single quoted", "b": ["x", "y"], "c": "block\n"}


def test_parse_block_keeps_scalars_as_strings() -> None:
    assert parse_block("n: 12\nb: true\nz: ~\n") == {"n": "12", "b": "true", "z": "~"}


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text", "a: [unclosed\n"])
def test_parse_block_rejects_non_mappings(text: str) -> None:
    with pytest.raises(ValueError):
        parse_block(text)


# Lines in and near the subset the fast path reads: indicators, quotes, comments, colons,
# nesting and list items, so any disagreement with PyYAML shows up.
_line_chars = st.sampled_from(
    [*"ab1-?:#'\" &*!|>%@`{}[],~\\.\t\r\x85\u2028\ufeff", "- ", ": ", " #"]
)
_raw = st.lists(_line_chars, max_size=6).map("".join)
_keys = st.one_of(st.sampled_from(["k", "key", "x1", "a-b"]), _raw)
_fast_lines = st.lists(
    st.one_of(
        st.builds(lambda k, v: f"{k}: {v}", _keys, _raw),
        st.builds(lambda k: f"{k}:", _keys),
        st.builds(lambda k, v: f"  {k}: {v}", _keys, _raw),
        st.builds(lambda v: f"  - {v}", _raw),
    ),
    min_size=1,
    max_size=5,
)


@given(_fast_lines)
@example(["exit_code: -1"])
@example(["k: -", "k2: ?x", "k3: :x"])
def test_fast_parser_agrees_with_pyyaml_base_loader(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    fast = _parse_fast(text)
    if fast is None:
        return  # falls back to PyYAML itself
    try:
        expected = yaml.load(text, Loader=yaml.CBaseLoader)
    except yaml.YAMLError:
        raise AssertionError(f"fast path accepted text PyYAML rejects: {text!r}") from None
    # "key:" with no entries: PyYAML reads an empty value, the fast path an empty map.
    expected = {
        k: ({} if v == "" and isinstance(fast.get(k), dict) else v) for k, v in expected.items()
    }
    assert fast == expected, text


def test_negative_numbers_stay_on_the_fast_path() -> None:
    assert _parse_fast("exit_code: -1\npid: 12\n") == {"exit_code": "-1", "pid": "12"}
