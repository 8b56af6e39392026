"""The message bus (spec §4): append-only files of YAML-front-matter records.

Names are imported on first use, so a command that only appends (``run-agent bus
post``) never loads the parser and reader.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `bus post` start-up
if TYPE_CHECKING:
    from typing import Any

    from conductor_loop.bus.message import Link, Message, Parent, format_record
    from conductor_loop.bus.parser import parse_records
    from conductor_loop.bus.reader import follow, read_all, read_from, read_since, read_tail
    from conductor_loop.bus.writer import BusWriter, append_message

_HOMES = {
    "Link": "message",
    "Message": "message",
    "Parent": "message",
    "format_record": "message",
    "parse_records": "parser",
    "follow": "reader",
    "read_all": "reader",
    "read_from": "reader",
    "read_since": "reader",
    "read_tail": "reader",
    "BusWriter": "writer",
    "append_message": "writer",
}

__all__ = [
    "BusWriter",
    "Link",
    "Message",
    "Parent",
    "append_message",
    "follow",
    "format_record",
    "parse_records",
    "read_all",
    "read_from",
    "read_since",
    "read_tail",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
