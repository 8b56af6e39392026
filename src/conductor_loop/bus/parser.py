"""Parsing bus files: YAML-front-matter records, torn tails and legacy one-line records.

A record starts at a ``---`` line directly followed by ``msg_id:``; its header ends at
the next ``---`` line; its body runs to the next record start (or, when the header
declares ``body_length``, exactly that many characters: a declared length whose end
lands on the end of the text or on a record start is always trusted, whatever the body
holds). A record whose header never closes, or that lacks ``msg_id``/``type``, is torn
or corrupt and is skipped without affecting its neighbours.
"""

from __future__ import annotations

import gc
import re
from typing import Any

from conductor_loop.bus.message import (
    QUOTED_BODY,
    RECORD_START,
    Link,
    Message,
    Parent,
    unquote_body,
)
from conductor_loop.storage.yamlish import parse_block

_NEXT_RECORD = "\n" + RECORD_START
_LEGACY_LINE = re.compile(r"\[(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\] ([A-Za-z0-9_\-]+): ?(.*)\Z")


def _as_str(value: Any) -> str:
    if value.__class__ is str:
        return value
    return "" if value is None else str(value)


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): _as_str(v) for k, v in value.items()}


def _parents(value: Any) -> list[Parent]:
    if not isinstance(value, list):
        return []
    parents = []
    for item in value:
        if isinstance(item, dict):
            if item.get("msg_id"):
                parents.append(
                    Parent(
                        _as_str(item["msg_id"]),
                        _as_str(item.get("kind")),
                        _str_map(item.get("meta")),
                    )
                )
        elif item:
            parents.append(Parent(_as_str(item)))
    return parents


def _links(value: Any) -> list[Link]:
    if not isinstance(value, list):
        return []
    return [
        Link(_as_str(item.get("url")), _as_str(item.get("label")), _as_str(item.get("kind")))
        for item in value
        if isinstance(item, dict) and item.get("url")
    ]


# The exact shape our writer produces for plain values: matched in one C-level step.
_FAST_RECORD = re.compile(
    r"---\nmsg_id: ([A-Za-z0-9][^\n\"' ]*)\n"
    r"ts: ([0-9][^\n\"' ]*)\n"
    r"type: ([A-Za-z0-9][^\n\"' ]*)\n"
    r"project_id: ([A-Za-z0-9][^\n\"' ]*)\n"
    r"(?:task_id: ([A-Za-z0-9][^\n\"' ]*)\n)?"
    r"(?:run_id: ([A-Za-z0-9][^\n\"' ]*)\n)?"
    r"(?:meta:\n((?:  [A-Za-z0-9][^\n\"': ]*: [A-Za-z0-9][^\n\"' ]*\n)+))?"
    r"body_length: (\d+)\n---\n"
)


def _meta_lines(block: str) -> dict[str, str]:
    meta = {}
    for line in block[2:-1].split("\n  "):
        key, _, value = line.partition(": ")
        meta[key] = value
    return meta


def _message(header: dict[str, Any], body: str) -> Message | None:
    msg_id = header.get("msg_id")
    msg_type = header.get("type")
    if not msg_id or not msg_type or not isinstance(msg_id, str):
        return None
    get = header.get
    if get("body_encoding") == QUOTED_BODY:
        body = unquote_body(body)
    return Message(
        _as_str(msg_type),
        _as_str(get("project_id", "")),
        body,
        _as_str(get("task_id", "")),
        _as_str(get("run_id", "")),
        msg_id,
        _as_str(get("ts", "")),
        _as_str(get("issue_id", "")),
        _parents(get("parents")) if "parents" in header else [],
        _links(get("links")) if "links" in header else [],
        _str_map(get("meta")) if "meta" in header else {},
    )


def _legacy(text: str, first_line_no: int) -> list[Message]:
    """Old ``[YYYY-MM-DD HH:MM:SS] TYPE: body`` lines; other lines continue the body."""
    messages: list[Message] = []
    for offset, line in enumerate(text.split("\n")):
        match = _LEGACY_LINE.match(line)
        if match:
            date, clock, msg_type, body = match.groups()
            messages.append(
                Message(
                    type=msg_type,
                    project_id="",
                    body=body,
                    msg_id=f"LEGACY-LINE-{first_line_no + offset}",
                    ts=f"{date}T{clock}Z",
                )
            )
        elif messages and line.strip():
            messages[-1].body += "\n" + line
    return messages


def _opens_record(text: str, pos: int) -> bool:
    """Whether a well-formed record header (msg_id, type, closing line) starts at ``pos``."""
    close = text.find("\n---\n", pos + 3)
    following = text.find(_NEXT_RECORD, pos + 4)
    if close < 0 or 0 <= following < close:
        return False
    header = text[pos + 4 : close + 1]
    return "\ntype:" in header and "\nbody_length:" in header


def parse_records(text: str, *, at_file_start: bool = True) -> tuple[list[Message], int]:
    """Parse ``text`` into messages; see ``_parse_records``.

    The cyclic garbage collector is paused meanwhile: building 100,000 small objects
    otherwise triggers repeated full collections that cost more than the parse itself.
    Afterwards the new objects go straight to the oldest generation (freeze, then
    unfreeze: two list splices), or the first allocation after re-enabling would scan
    them all once more. Skipped when the application keeps objects frozen itself.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_records(text, at_file_start)
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


def _parse_records(text: str, at_file_start: bool) -> tuple[list[Message], int]:
    """Parse ``text`` into messages.

    Returns the messages and the number of characters consumed: everything up to the
    end of the last complete record, so a follower can re-read a tail that a writer is
    still producing. Torn records are skipped once a later record shows they will never
    be completed. Legacy one-line records are recognised only at file start.
    """
    messages: list[Message] = []
    n = len(text)
    find = text.find
    if text.startswith(RECORD_START):
        pos = 0
    else:
        found = find(_NEXT_RECORD)
        pos = n if found < 0 else found + 1
        if at_file_start and pos:
            legacy_end = pos if found >= 0 else text.rfind("\n") + 1
            messages.extend(_legacy(text[:legacy_end], 1))
            if found < 0:
                return messages, legacy_end
    consumed = pos
    fast_match = _FAST_RECORD.match
    append = messages.append
    while pos < n:
        fast = fast_match(text, pos)
        if fast is not None:
            msg_id, ts, msg_type, project_id, task_id, run_id, meta, length = fast.groups()
            body_start = fast.end()
            body_end = body_start + int(length)
            end = body_end + 1 if body_end > body_start else body_end
            if (
                end <= n
                and (end == body_end or text[body_end] == "\n")
                and (end == n or text.startswith(RECORD_START, end))
            ):
                append(
                    Message(
                        msg_type,
                        project_id,
                        text[body_start:body_end],
                        task_id or "",
                        run_id or "",
                        msg_id,
                        ts,
                        "",
                        [],
                        [],
                        _meta_lines(meta) if meta else {},
                    )
                )
                pos = consumed = end
                continue
        header_start = pos + 4
        close = find("\n---\n", header_start - 1)
        next_start = find(_NEXT_RECORD, header_start)
        if close < 0 or 0 <= next_start < close:
            # Header not closed before the next record: torn (skip) or still being written.
            if next_start < 0:
                break
            pos = consumed = next_start + 1
            continue
        body_start = close + 5
        header_text = text[header_start : close + 1]
        try:
            header = parse_block(header_text)
        except ValueError:
            header = {}
        declared = header.get("body_length")
        if declared is None and next_start == close:
            # The "closing" line opens another record and nothing declares this header
            # complete: it was torn by a writer that died.
            pos = consumed = next_start + 1
            continue
        if declared is not None:
            length = int(declared) if isinstance(declared, str) and declared.isdigit() else -1
            body_end = body_start + length
            end = body_end + 1 if length > 0 else body_end
            if length >= 0 and end <= n and (length == 0 or text[body_end] == "\n"):
                if end == n or text.startswith(RECORD_START, end):
                    # The declared extent checks out: trust it before any guess below, or
                    # a body holding a whole record header could pass for the next record.
                    complete = True
                elif next_start == close and _opens_record(text, close + 1):
                    complete = False  # our header was torn; its "closing" line opens the next
                else:
                    # Junk follows: either this record is complete and a later write tore,
                    # or this record is torn and its claimed body swallowed the next one.
                    inner = find(_NEXT_RECORD, body_start - 1)
                    complete = inner < 0 or inner >= end - 1
            else:
                complete = False
            if not complete:
                # Torn, or still being written: skip it only once a later record exists.
                if next_start < 0:
                    break
                pos = consumed = next_start + 1
                continue
            body = text[body_start:body_end]
            if end < n and not text.startswith(RECORD_START, end):
                resync = find(_NEXT_RECORD, end - 1)
                if resync < 0:
                    # Junk at the end: keep this record, wait for (or ignore) the rest.
                    msg = _message(header, body)
                    if msg is not None:
                        messages.append(msg)
                    consumed = end
                    break
                end = resync + 1
        else:
            # Records without a declared length (other writers) end at the next record.
            next_start = find(_NEXT_RECORD, body_start - 1)
            if next_start < 0:
                if not text.endswith("\n"):
                    break  # the last record's body is still being written
                end = n
            else:
                end = next_start + 1
            body = text[body_start:end]
            if body:
                body = body[:-1]
        msg = _message(header, body)
        if msg is not None:
            append(msg)
        pos = consumed = end
    return messages, consumed
