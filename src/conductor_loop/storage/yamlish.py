"""The small YAML subset our own files use, written by hand and read fast.

run-info.yaml and bus headers are YAML so that other tools (and the Go implementation)
read them. Writing goes through ``scalar`` so every value reads back as the same
string under any YAML loader; reading tries ``parse_block`` (a strict fast path for
exactly what we write) and falls back to PyYAML's C base loader for anything else.
"""

from __future__ import annotations

import functools
import re

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `bus post` start-up
if TYPE_CHECKING:
    from typing import Any

# Plain (unquoted) scalars we emit: safe characters only, no trailing ":" (YAML reads it
# as a mapping indicator), and nothing that a YAML 1.1 loader resolves to a non-string.
# The patterns are the YAML 1.1 implicit types (bool, null, int, float, timestamp), kept
# here so writing never imports a YAML library; a property test checks them against
# PyYAML's own resolver.
_PLAIN_SAFE = re.compile(r"[A-Za-z0-9/](?:[A-Za-z0-9_.:/@+\-]*[A-Za-z0-9_./@+\-])?\Z")
_NON_STRING = re.compile(
    r"""(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
    |~|null|Null|NULL
    |[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+
    |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+
    |[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
    |[0-9]{4}-[0-9]{2}-[0-9]{2}
    |[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?
     (?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?
    |<<|=)\Z""",
    re.VERBOSE,
)
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\t": "\\t",
    "\r": "\\r",
    "\x00": "\\0",
}
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]')


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    known = _ESCAPES.get(char)
    if known is not None:
        return known
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


@functools.lru_cache(maxsize=8192)
def scalar(value: str) -> str:
    """Render ``value`` as a YAML scalar that every loader reads back as this exact string."""
    if _PLAIN_SAFE.match(value) and ": " not in value and not _NON_STRING.match(value):
        return value
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, value) + '"'


_ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\Z")


def timestamp(value: str) -> str:
    """An ISO-8601 UTC time plain (as YAML tools write times); any other text via ``scalar``."""
    return value if _ISO_UTC.match(value) else scalar(value)


def _plain_value(raw: str) -> str | None:
    """Decode a value written by ``scalar``; None when it is not in the fast subset."""
    if not raw:
        return ""
    first = raw[0]
    if first == '"':
        if raw[-1] == '"' and len(raw) >= 2 and "\\" not in raw and '"' not in raw[1:-1]:
            return raw[1:-1]
        return None
    if first in "'&*!|>%@`{}[]#,~ " or raw[-1] in " :":
        return None
    if " #" in raw or ": " in raw:
        return None  # a comment, or a mapping inside the value
    if first in "-?:" and (len(raw) == 1 or raw[1] == " "):
        return None  # an indicator; followed by anything else (as in -1) it is plain text
    return raw


def parse_block(text: str) -> dict[str, Any]:
    """Parse a mapping of scalars, one-level string maps and string lists.

    Uses the fast path when every line is in the subset we write, otherwise PyYAML's
    C base loader (all scalars stay strings). Raises ``ValueError`` if the text is not
    a YAML mapping.
    """
    fast = _parse_fast(text)
    if fast is not None:
        return fast
    import yaml  # only for records outside our own subset

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


def _is_plain_key(key: str) -> bool:
    return bool(key) and _plain_value(key) == key


# Tabs, carriage returns, other line breaks, BOM, control characters and surrogates:
# ``scalar`` escapes all of these, so text holding one was not written by us.
# Compiled on first read, not at import: the slowest pattern here to compile, and writing
# (``run-agent bus post``) never needs it.
@functools.cache
def _not_fast() -> re.Pattern[str]:
    return re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")


def _parse_fast(text: str) -> dict[str, Any] | None:
    if _not_fast().search(text):
        return None
    result: dict[str, Any] = {}
    nested_key: str | None = None
    nested: dict[str, str] | list[str] | None = None
    for line in text.split("\n"):
        if not line:
            continue
        if line[0] == " ":
            if nested_key is None:
                return None
            body = line.lstrip(" ")
            if body.startswith("- "):
                if nested is None:
                    nested = []
                    result[nested_key] = nested
                if not isinstance(nested, list):
                    return None
                item = _plain_value(body[2:])
                if item is None or item.startswith("- ") or ": " in item:
                    return None
                nested.append(item)
                continue
            key, sep, raw = body.partition(": ")
            if not sep:
                if body.endswith(":") and " " not in body:
                    key, raw = body[:-1], ""
                else:
                    return None
            if nested is None:
                nested = {}
                result[nested_key] = nested
            if not isinstance(nested, dict) or not _is_plain_key(key):
                return None
            value = _plain_value(raw)
            if value is None:
                return None
            nested[key] = value
            continue
        key, sep, raw = line.partition(": ")
        if not sep:
            if line.endswith(":") and " " not in line and _is_plain_key(line[:-1]):
                nested_key = line[:-1]
                nested = None
                result[nested_key] = {}
                continue
            return None
        if not _is_plain_key(key):
            return None
        value = _plain_value(raw)
        if value is None:
            return None
        nested_key = None
        nested = None
        result[key] = value
    # A nested key with no entries is an empty map, matching YAML's null → {} for us.
    return result
