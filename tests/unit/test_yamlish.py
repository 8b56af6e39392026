"""``storage.yamlish``: every scalar we write reads back as the same string under PyYAML."""

from __future__ import annotations

import datetime
import re
import string

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conductor_loop.bus.message import Message, Parent, format_record
from conductor_loop.storage.runinfo import RunInfo
from conductor_loop.storage.usage import Usage
from conductor_loop.storage.yamlish import (
    _NON_STRING,
    _iso_utc,
    _non_string,
    _parse_fast,
    _plain_safe,
    parse_block,
    scalar,
    timestamp,
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
    if _plain_safe(value) and not _non_string(value):
        assert tag == "tag:yaml.org,2002:str"


# The patterns the writer used before it decided with string tests (so that `run-agent
# bus post` imports no ``re``), and its scalar rendering with them: the string tests
# must give exactly the same answers, so every record is written byte for byte as before.
_PLAIN_SAFE_RE = re.compile(r"[A-Za-z0-9/](?:[A-Za-z0-9_.:/@+\-]*[A-Za-z0-9_./@+\-])?\Z")
_ISO_UTC_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\Z")
_ESCAPE_RE = re.compile(r'[\\"\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]')
_KNOWN_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\x00": "\\0"}


def _scalar_by_patterns(value: str) -> str:
    if _PLAIN_SAFE_RE.match(value) and ": " not in value and not _NON_STRING().match(value):
        return value

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        code = ord(char)
        fallback = f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
        return _KNOWN_ESCAPES.get(char, fallback)

    return '"' + _ESCAPE_RE.sub(escape, value) + '"'


# Ids and times as they are written, and shapes near the string tests' shortcuts.
_ID_LIKE = st.from_regex(
    r"[0-9]{1,8}(?:[-.:_][0-9a-fA-FTZ]{1,6}){0,4}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}T[0-9:]{5,8}Z?",
    fullmatch=True,
)


@settings(max_examples=1500)
@given(st.one_of(_plainish, _ID_LIKE, st.text(max_size=12), st.text()))
@example("20260223-1917100000-67946-1")
@example("2026-01-02")
@example("1.5e-3")
@example("09")
@example("0")
@example("017")
@example("1-2.5")
@example("\u0663\u0660\u0662\u0666-01-01T00:00:00Z")
def test_string_tests_answer_as_the_patterns_did(value: str) -> None:
    assert _plain_safe(value) == bool(_PLAIN_SAFE_RE.match(value))
    if _plain_safe(value):
        assert _non_string(value) == bool(_NON_STRING().match(value))
    assert _iso_utc(value) == bool(_ISO_UTC_RE.match(value))
    assert scalar(value) == _scalar_by_patterns(value)
    assert timestamp(value) == (value if _ISO_UTC_RE.match(value) else scalar(value))


@pytest.mark.parametrize("value", _TRICKY + _RESOLVED_WORDS)
def test_tricky_values_are_written_as_the_patterns_wrote_them(value: str) -> None:
    assert scalar(value) == _scalar_by_patterns(value)


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
    assert fast == (expected or {}), text


@given(_fast_lines)
@example(["k:"])
@example(["k: v", "k:", "  a: b"])
@example(["k: v", "key:", "  a: b", "  c: d", "x1: y"])
@example(["key:", "  a: b", "k: v", "key: again"])
def test_parse_block_reads_every_block_as_pyyaml_base_loader_does(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    try:
        expected = yaml.load(text, Loader=yaml.CBaseLoader)
    except yaml.YAMLError:
        with pytest.raises(ValueError):
            parse_block(text)
        return
    if isinstance(expected, dict) or expected is None:
        assert parse_block(text) == (expected or {}), text


def test_an_empty_key_reads_as_an_empty_string_as_in_yaml() -> None:
    # The fast path once read "key:" with nothing under it as an empty map.
    assert parse_block("error_summary:\nstatus: running\n") == {
        "error_summary": "",
        "status": "running",
    }


@pytest.mark.parametrize(
    "text",
    [
        "type: a #not part of it\n",  # a comment
        "type: a\tb\r\n",  # a carriage return ends the line for YAML
        "key:value\n",  # no mapping at all: one plain scalar
        "a: b\nbody_length: 5\x85\n",  # NEL is a line break to YAML
    ],
)
def test_text_outside_the_subset_reads_as_yaml_reads_it(text: str) -> None:
    try:
        expected = yaml.load(text, Loader=yaml.CBaseLoader)
    except yaml.YAMLError:
        with pytest.raises(ValueError):
            parse_block(text)
        return
    if not isinstance(expected, dict):
        with pytest.raises(ValueError):
            parse_block(text)
        return
    assert parse_block(text) == expected


def test_negative_numbers_stay_on_the_fast_path() -> None:
    assert _parse_fast("exit_code: -1\npid: 12\n") == {"exit_code": "-1", "pid": "12"}


# -- our writers' output: the fast reader and YAML tools (CSafeLoader) read the same ----

# Any text, and text that ``scalar`` writes without escapes (which the fast path reads).
_any_text = st.one_of(
    st.text(max_size=30),
    st.text(
        st.characters(
            blacklist_categories=("Cc", "Cs"),
            blacklist_characters='"\\\x85\u2028\u2029\ufeff\ufffe\uffff',
        ),
        max_size=30,
    ),
)


def _agrees_with_yaml_tools(text: str) -> None:
    """parse_block reads ``text`` as CSafeLoader does, and without PyYAML when no value
    needed an escape."""
    ours = parse_block(text)
    if "\\" not in text:
        assert _parse_fast(text) == ours, text
    tools = yaml.load(text, Loader=yaml.CSafeLoader)
    assert ours.keys() == tools.keys()
    for key, value in tools.items():
        if isinstance(value, dict):
            assert ours[key] == {str(k): _as_yaml_tools_read(v) for k, v in value.items()}
        elif isinstance(value, list):
            assert ours[key] == [str(v) for v in value]
        else:
            assert ours[key] == _as_yaml_tools_read(value), key


def _as_yaml_tools_read(value: object) -> str:
    """CSafeLoader resolves our plain numbers and times; as text they are what we wrote."""
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(value)


@settings(max_examples=300, deadline=None)
@given(
    fields=st.lists(_any_text, min_size=5, max_size=5),
    meta=st.dictionaries(_any_text, _any_text, max_size=3),
    parents=st.lists(_any_text.filter(bool), max_size=2),
)
def test_bus_headers_read_the_same_fast_and_under_csafeloader(
    fields: list[str], meta: dict[str, str], parents: list[str]
) -> None:
    msg_type, project, task, issue, body = fields
    msg = Message(
        msg_type or "INFO",
        project,
        body,
        task_id=task,
        issue_id=issue,
        msg_id="MSG-20260223-191710-184887000-PID1-0001",
        ts="2026-02-23T19:17:10.123Z",
        meta=meta,
        parents=[Parent(p) for p in parents],
    )
    record = format_record(msg)
    _agrees_with_yaml_tools(record[4 : record.index("\n---\n", 3) + 1])


@settings(max_examples=300, deadline=None)
@given(values=st.lists(_any_text, min_size=4, max_size=4), pid=st.integers(0, 2**31))
def test_run_info_reads_the_same_fast_and_under_csafeloader(values: list[str], pid: int) -> None:
    info = RunInfo(
        run_id="20260101-0000000000-1-1",
        project_id="p",
        task_id="t",
        error_summary=values[0],
        commandline=values[1],
        cwd=values[2],
        agent_version=values[3],
        pid=pid,
        start_time="2026-02-23T19:17:10.123Z",
        usage=Usage(10, 5, None, 0.000175),
    )
    _agrees_with_yaml_tools(info.to_yaml())
