"""``storage.yamlish``: every scalar we write reads back as the same string under PyYAML."""

from __future__ import annotations

import string

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from conductor_loop.storage.yamlish import _NON_STRING, _PLAIN_SAFE, parse_block, scalar

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
