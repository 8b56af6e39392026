"""The message bus (spec §4): append-only files of YAML-front-matter records."""

from conductor_loop.bus.message import Link, Message, Parent, format_record
from conductor_loop.bus.parser import parse_records
from conductor_loop.bus.reader import follow, read_all, read_from, read_since, read_tail
from conductor_loop.bus.writer import BusWriter, append_message

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
