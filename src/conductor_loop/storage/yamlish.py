"""The small YAML subset our own files use, written by hand and read fast.

run-info.yaml, bus headers and stop requests are YAML so that other tools (and the Go
implementation) read them. Writing goes through ``scalar`` so every value reads back as
the same string under any YAML loader. ``parse_block`` is the one reader of them all: a
strict fast path for exactly what we write, and PyYAML's C base loader for anything
else. No YAML library is imported unless that fallback runs.
"""

from __future__ import annotations

from conductor_loop.storage.lazy_re import lazy

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `bus post` start-up
if TYPE_CHECKING:
    import re
    from typing import Any

# Plain (unquoted) scalars we emit: safe characters only (``_plain_safe``), and nothing
# that a YAML 1.1 loader resolves to a non-string (``_non_string``). Both are string
# tests, not patterns, so that writing a record imports no ``re`` in the common case.
_PLAIN_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/")
_PLAIN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/@+-"


def _plain_safe(value: str) -> bool:
    """Whether ``value`` matches ``[A-Za-z0-9/](?:[A-Za-z0-9_.:/@+\\-]*[A-Za-z0-9_./@+\\-])?``:
    only characters that never need quoting, and no trailing ":" (a mapping indicator)."""
    return (
        bool(value)
        and value[0] in _PLAIN_FIRST
        and value[-1] != ":"
        and value.isascii()
        and not value.strip(_PLAIN_CHARS)
    )


# The YAML 1.1 implicit types (bool, null, int, float, timestamp) for a ``_plain_safe``
# value, kept here so writing never imports a YAML library; a property test checks them
# against PyYAML's own resolver. A plain-safe value starts with a letter, a digit or "/":
# after a letter only the bool and null words resolve, after "/" nothing does.
# fmt: off
_BOOL_NULL_WORDS = frozenset((
    "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
    "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL",
))
# fmt: on
# After a digit: numbers and dates, only ever made of these characters.
_NUMBER_CHARS = frozenset("0123456789_.:+-abcdefABCDEFxXoObBeETtZ")
# All of them: the definition ``_non_string`` answers from (it checks the words, digits
# and ids itself, and asks this for the rest); a property test holds the two equal.
_NON_STRING = lazy(
    r"""(?x)(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
    |~|null|Null|NULL
    |[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+
    |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+
    |[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
    |[0-9]{4}-[0-9]{2}-[0-9]{2}
    |[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?
     (?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?
    |<<|=)\Z"""
)


def _non_string(value: str) -> bool:
    """Whether a YAML 1.1 loader reads the ``_plain_safe`` ``value`` as a non-string."""
    first = value[0]
    if first == "/":
        return False
    if not first.isdigit():
        return value in _BOOL_NULL_WORDS
    if value.isdigit():  # 0, an int, or an octal: decided without the pattern
        return value == "0" or first != "0" or not value.strip("01234567")
    if not _NUMBER_CHARS.issuperset(value):
        return False
    if "-" in value and "." not in value and value[4:5] != "-":
        # A "-" after the first character is only in a date (at index 4) or in a
        # float's exponent (after a "."): ids such as run ids are text.
        return False
    return _NON_STRING().match(value) is not None


_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\t": "\\t",
    "\r": "\\r",
    "\x00": "\\0",
}
_NEEDS_ESCAPE = lazy(r'[\\"\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]')


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    known = _ESCAPES.get(char)
    if known is not None:
        return known
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


_SCALARS: dict[str, str] = {}  # a bounded cache (functools would cost `bus post` ~3 ms)
_MAX_SCALARS = 8192


def scalar(value: str) -> str:
    """Render ``value`` as a YAML scalar that every loader reads back as this exact string."""
    known = _SCALARS.get(value)
    if known is not None:
        return known
    if _plain_safe(value) and ": " not in value and not _non_string(value):
        written = value
    elif value.isprintable() and "\\" not in value and '"' not in value:
        # Nothing to escape: isprintable() is False for every other character that
        # _NEEDS_ESCAPE finds (C0/C1 controls, line/paragraph separators, BOM,
        # surrogates, non-characters).
        written = '"' + value + '"'
    else:
        written = '"' + _NEEDS_ESCAPE().sub(_escape_char, value) + '"'
    if len(_SCALARS) >= _MAX_SCALARS:
        _SCALARS.clear()
    _SCALARS[value] = written
    return written


def timestamp(value: str) -> str:
    """An ISO-8601 UTC time plain (as YAML tools write times); any other text via ``scalar``."""
    return value if _iso_utc(value) else scalar(value)


def _iso_utc(value: str) -> bool:
    """Whether ``value`` matches ``\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)?Z``
    (``\\d`` as in ``re``: any Unicode decimal digit)."""
    if len(value) < 20 or value[-1] != "Z" or value[4] + value[7] + value[10] != "--T":
        return False
    if value[13] + value[16] != "::":
        return False
    digits = value[:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16] + value[17:19]
    if not digits.isdecimal():
        return False
    fraction = value[19:-1]
    return not fraction or (fraction[0] == "." and fraction[1:].isdecimal())


_NOT_PLAIN_FIRST = frozenset("'&*!|>%@`{}[]#,\" ")


def _plain_value(raw: str) -> str | None:
    """The string a YAML loader reads from ``raw`` (written by ``scalar``), or None when
    it is outside the fast subset: a plain scalar on one line, or a double-quoted one
    without escapes."""
    if not raw:
        return ""
    first = raw[0]
    if first == '"':
        if len(raw) >= 2 and raw[-1] == '"' and "\\" not in raw and '"' not in raw[1:-1]:
            return raw[1:-1]
        return None
    if first in _NOT_PLAIN_FIRST or raw[-1] in " :" or " #" in raw or ": " in raw:
        return None  # an indicator, a comment, or a mapping inside the value
    if first in "-?:" and (len(raw) == 1 or raw[1] == " "):
        return None  # an indicator; followed by anything else (as in -1) it is plain text
    return raw


# Tabs, carriage returns, other line breaks, BOM, control characters and surrogates:
# ``scalar`` escapes all of these, so text holding one was not written by us.
_not_fast = lazy("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")


# The lines run-info and bus headers are made of, matched in one C-level pass each: flat
# ``key: value`` lines, then optionally one ``key:`` line and its ``  key: value`` lines
# at the very end (run-info's ``usage``). Values are checked by ``_plain_value``.
_FAST_CHARS = "[^\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]"


_flat_line = lazy(f"(?m)^([a-z_]{{1,100}}):(?: ({_FAST_CHARS}*))?$")
_nested_line = lazy(f"(?m)^  ([a-z_]{{1,100}}): ({_FAST_CHARS}*)$")


# PyYAML refuses an implicit key longer than 1024 characters (quotes included).
_MAX_KEY = 1000


def parse_block(text: str) -> dict[str, Any]:
    """Parse a mapping of scalars, one-level string maps and string lists.

    Every scalar stays a string, as PyYAML's base loader reads it (``12`` and
    ``2026-01-01T00:00:00Z`` are text here; callers convert the fields they know). What
    our writers emit is read without PyYAML (``_parse_fast``); anything else by PyYAML's
    C base loader, and a property test holds the two to agreement. Raises
    ``ValueError`` if the text is not a YAML mapping.
    """
    fast = _parse_fast(text)
    if fast is not None:
        return fast
    import yaml  # only for text outside our own subset: writers and readers stay light

    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    try:
        loaded = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ValueError("expected a YAML mapping")
    return loaded


def _parse_fast(text: str) -> dict[str, Any] | None:
    """``text`` read under the fast subset's rules; None when it is outside the subset."""
    if text and text[-1] != "\n":
        text += "\n"
    result = _parse_words(text)  # its patterns leave out what _not_fast() finds
    if result is not None:
        return result
    if _not_fast().search(text) is not None:
        return None
    result = _parse_lines(text)
    if result is not None and len(text) > _MAX_KEY and _long_key(result):
        return None
    return result


def _parse_words(text: str) -> dict[str, Any] | None:
    """Flat lines with lower-case keys and at most one nested map (run-info's ``usage``
    at the end, a bus header's ``meta`` before ``body_length``): the common case, matched
    in C-level passes; None when the text is anything else."""
    cut = text.find("\n  ")
    if cut < 0:
        return _flat_fields(text, 0, len(text))
    opener = text.rfind("\n", 0, cut) + 1
    key = text[opener:cut]
    if not key.endswith(":") or not key[:-1].isidentifier():
        return None
    end = cut + 1  # the block runs to the first line that is not indented
    while text.startswith("  ", end):
        end = text.find("\n", end) + 1
        if not end:
            end = len(text)
            break
    if text.find("\n ", end - 1) >= 0:
        return None  # a second block
    fields = _flat_fields(text, 0, opener)
    nested = _flat_fields(text, cut + 1, end, _nested_line())
    rest = _flat_fields(text, end, len(text)) if end < len(text) else {}
    if fields is None or not nested or rest is None or key[:-1] in fields:
        return None
    fields[key[:-1]] = nested
    size = len(fields) + len(rest)
    fields.update(rest)
    return fields if len(fields) == size else None


def _flat_fields(
    text: str, start: int, end: int, line: re.Pattern[str] | None = None
) -> dict[str, Any] | None:
    """``text[start:end]`` as ``key: value`` lines (each one matched by ``line``)."""
    if start == end:
        return {}
    pairs = (line or _flat_line()).findall(text, start, end)
    lines = text.count("\n", start, end) + (0 if text.endswith("\n", start, end) else 1)
    if len(pairs) != lines:
        return None
    fields: dict[str, Any] = {}
    for key, raw in pairs:
        if raw:
            first = raw[0]
            if first == '"':
                if len(raw) < 2 or raw[-1] != '"' or "\\" in raw or '"' in raw[1:-1]:
                    return None
                raw = raw[1:-1]
            elif (
                first in _NOT_PLAIN_FIRST
                or " #" in raw
                or ": " in raw
                or raw[-1] in " :"
                or (first in "-?:" and (len(raw) == 1 or raw[1] == " "))
            ):
                return None  # not plain: inlined _plain_value, as this runs for every line
        fields[key] = raw
    return fields if len(fields) == len(pairs) else None


def _parse_lines(text: str) -> dict[str, Any] | None:
    """Line by line, for quoted keys, keys with other characters and lists of values."""
    result: dict[str, Any] = {}
    nested_key: str | None = None
    nested: dict[str, str] | list[str] | None = None
    for line in text.split("\n"):
        if not line:
            continue
        if line[0] == " ":
            if nested_key is None or len(line) < 3 or line[1] != " " or line[2] == " ":
                return None
            body = line[2:]
            if body.startswith("- "):
                if nested is None:
                    nested = result[nested_key] = []
                item = _plain_value(body[2:])
                if not isinstance(nested, list) or item is None or not body[2:]:
                    return None
                nested.append(item)
                continue
            key, value = _entry(body)
            if nested is None:
                nested = result[nested_key] = {}
            if key is None or value is None or not isinstance(nested, dict) or key in nested:
                return None
            nested[key] = value
            continue
        if nested_key is not None and nested is None:
            return None  # the previous "key:" had nothing under it
        if line.endswith(":") and ": " not in line:
            key = _plain_key(line[:-1])
            if key is None or key in result:
                return None
            nested_key, nested = key, None
            continue
        key, value = _entry(line)
        if key is None or value is None or key in result:
            return None
        nested_key = nested = None
        result[key] = value
    if nested_key is not None and nested is None:
        return None
    return result


def _entry(line: str) -> tuple[str | None, str | None]:
    """``key: value`` split at the separator YAML would use."""
    if line[0] == '"':
        end = line.find('": ', 1)
        if end < 0:
            return None, None
        key = _plain_value(line[: end + 1])
        return key, _plain_value(line[end + 3 :])
    raw_key, sep, raw = line.partition(": ")
    if not sep:
        return None, None
    return _plain_key(raw_key), _plain_value(raw)


def _plain_key(raw: str) -> str | None:
    if not raw or raw[0] == " ":
        return None
    key = _plain_value(raw)
    return key if key == raw or raw[0] == '"' else None


def _long_key(result: dict[str, Any]) -> bool:
    keys = [*result, *(k for v in result.values() if isinstance(v, dict) for k in v)]
    return max(map(len, keys), default=0) > _MAX_KEY - 2
