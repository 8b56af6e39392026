"""Reading bus files without locks: all, since a message id, the last N, or follow.

Each function takes the runs ``root`` the bus lives in, when known: the file is then
opened under the containment rule (``storage.containment``).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from conductor_loop.bus.message import Message
from conductor_loop.bus.parser import parse_records
from conductor_loop.errors import UnknownMessageIdError
from conductor_loop.storage.containment import StrPath, opener
from conductor_loop.storage.watch import wait_for_changes

_RECORD_START = b"\n---\nmsg_id:"
_TAIL_CHUNK = 64 * 1024


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def _decode(data: bytes) -> tuple[str, str]:
    """The text to parse, and the same text with each bad byte as its own character.

    Any process that can write the file can put bytes there that are not UTF-8. Each
    becomes one U+FFFD in the text to parse (so messages hold only valid text); the
    second text keeps the byte (surrogateescape), to turn character offsets into byte
    offsets. Both have one character per bad byte, so their offsets agree.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        escaped = data.decode("utf-8", errors="surrogateescape")
        return _ESCAPED_BYTE.sub("\ufffd", escaped), escaped
    return text, text


def _byte_length(escaped: str, consumed: int, data: bytes) -> int:
    if consumed == len(escaped):
        return len(data)
    if len(escaped) == len(data):  # all ASCII
        return consumed
    return len(escaped[:consumed].encode("utf-8", errors="surrogateescape"))


def _opener(root: StrPath | None) -> Callable[[str, int], int] | None:
    return None if root is None else opener(root)


def read_from(
    path: str | os.PathLike[str], offset: int = 0, *, root: StrPath | None = None
) -> tuple[list[Message], int]:
    """Complete records from byte ``offset`` on, and the offset just past the last one.

    ``offset`` must be 0 or a value this function returned. A missing file reads empty.
    """
    try:
        with open(path, "rb", opener=_opener(root)) as handle:
            return _read_open(handle, offset)
    except FileNotFoundError:
        return [], offset


def _read_open(handle: BinaryIO, offset: int) -> tuple[list[Message], int]:
    if offset:
        handle.seek(offset)
    data = handle.read()
    text, escaped = _decode(data)
    messages, consumed = parse_records(text, at_file_start=offset == 0)
    return messages, offset + _byte_length(escaped, consumed, data)


def read_all(path: str | os.PathLike[str], *, root: StrPath | None = None) -> list[Message]:
    return read_from(path, 0, root=root)[0]


def read_since(
    path: str | os.PathLike[str], msg_id: str, *, root: StrPath | None = None
) -> list[Message]:
    """Messages after ``msg_id``; UnknownMessageIdError if it is not in the file."""
    return messages_after(read_all(path, root=root), msg_id, path)


def messages_after(
    messages: list[Message], msg_id: str, path: str | os.PathLike[str]
) -> list[Message]:
    """The messages after ``msg_id`` (read from ``path``); UnknownMessageIdError if absent."""
    for index, msg in enumerate(messages):
        if msg.msg_id == msg_id:
            return messages[index + 1 :]
    raise UnknownMessageIdError(f"message id {msg_id!r} is not in {path}")


def _read_tail_bytes(
    path: str | os.PathLike[str], count: int, root: StrPath | None
) -> tuple[bytes, int]:
    """Bytes holding at least the last ``count`` records, and their file offset."""
    with open(path, "rb", opener=_opener(root)) as handle:
        size = os.fstat(handle.fileno()).st_size
        start = size
        chunk = _TAIL_CHUNK
        data = b""
        while start > 0:
            start = max(0, start - chunk)
            handle.seek(start)
            data = handle.read(size - start)
            if data.count(_RECORD_START) > count:
                break
            chunk *= 4
    if start > 0:
        # Begin at the record start that leaves one spare record before the last N.
        positions: list[int] = []
        index = data.rfind(_RECORD_START)
        while index >= 0 and len(positions) <= count:
            positions.append(index)
            index = data.rfind(_RECORD_START, 0, index)
        data = data[positions[-1] + 1 :]
    return data, start


PAGE = 100  # messages per page when paging back and no count is given


def read_before(
    path: str | os.PathLike[str], msg_id: str, count: int = PAGE, *, root: StrPath | None = None
) -> list[Message]:
    """Up to ``count`` messages just before ``msg_id`` (paging back through a long bus),
    reading from the end as far as needed; UnknownMessageIdError if it is not there."""
    window = count + 256
    while True:
        messages = read_tail(path, window, root=root)
        whole_file = len(messages) < window
        index = next(
            (i for i in range(len(messages) - 1, -1, -1) if messages[i].msg_id == msg_id), None
        )
        if index is not None and (index >= count or whole_file):
            return messages[max(0, index - count) : index]
        if whole_file:
            raise UnknownMessageIdError(f"message id {msg_id!r} is not in {path}")
        window *= 4


def read_tail(
    path: str | os.PathLike[str], count: int, *, root: StrPath | None = None
) -> list[Message]:
    """The last ``count`` messages (all when ``count`` is 0), reading from the end."""
    if count <= 0:
        return read_all(path, root=root)
    try:
        data, start = _read_tail_bytes(path, count, root)
    except FileNotFoundError:
        return []
    text, _ = _decode(data)
    messages, _ = parse_records(text, at_file_start=start == 0)
    return messages[-count:]


def follow(
    path: str | os.PathLike[str],
    *,
    offset: int = 0,
    stop: threading.Event | None = None,
    root: StrPath | None = None,
) -> Iterator[Message]:
    """Yield messages from byte ``offset`` on, then new ones as they are appended.

    Survives rotation: the file being read stays open, so once the path names a new
    file, the rest of the old one is read (writers never touch a file after it is
    renamed away) before reading the new one from its beginning.
    """
    stop = stop or threading.Event()
    bus_path = Path(path)
    handle: BinaryIO | None = None
    try:
        for _ in wait_for_changes(bus_path, stop):
            while True:
                if handle is None:
                    try:
                        # kept open across wakes
                        handle = open(bus_path, "rb", opener=_opener(root))  # noqa: SIM115
                    except FileNotFoundError:
                        break
                try:
                    current = os.stat(bus_path).st_ino
                except FileNotFoundError:
                    current = -1
                stat = os.fstat(handle.fileno())
                if stat.st_size < offset:
                    offset = 0  # truncated or replaced in place: start over
                if stat.st_size > offset:
                    messages, offset = _read_open(handle, offset)
                    yield from messages
                if current == stat.st_ino:
                    break
                handle.close()  # rotated away and now fully read: go on with the new file
                handle = None
                offset = 0
    finally:
        if handle is not None:
            handle.close()
