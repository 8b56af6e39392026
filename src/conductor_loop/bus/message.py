"""A message bus record (spec §4) and its text form.

Records are written by hand-formatting the header (the append path must be fast);
``scalar`` guarantees every value reads back as the same string under any YAML loader.
Bodies are written as they are, except that a line which would open a record (a
``msg_id:`` line at the body's start or after a ``---`` line) is quoted with ``>``: so
the only record starts in a file are real ones, for every reader, including one that
searches back from the end or ignores ``body_length``.
"""

from __future__ import annotations

from conductor_loop.storage.lazy_re import lazy
from conductor_loop.storage.yamlish import scalar, timestamp

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see _Record)
if TYPE_CHECKING:
    from typing import Any

RECORD_START = "---\nmsg_id:"

# Header value saying the body's record-opening lines were quoted (mboxrd-style: one
# more ">" on every ">*msg_id:" line in such a place), so reading removes exactly one.
QUOTED_BODY = "quoted-msg-id"
_AT_LINE_AFTER_RULE = r"(?:\A|(?<=\n---\n)|(?<=\A---\n))"
# Compiled when first needed: most bodies hold no "msg_id:", and `bus post` skips ``re``.
_OPENS_RECORD = lazy(_AT_LINE_AFTER_RULE + "msg_id:")
_QUOTABLE = lazy(_AT_LINE_AFTER_RULE + "(?=>*msg_id:)")
_QUOTED = lazy(_AT_LINE_AFTER_RULE + ">(?=>*msg_id:)")
_SURROGATE = lazy("[\ud800-\udfff]")


class _Record:
    """Equality and repr over ``_FIELDS``, as a dataclass would give. Plain classes
    rather than dataclasses: importing ``dataclasses`` (and with it ``inspect``) would
    cost ``run-agent bus post`` more than all the rest of its imports."""

    __slots__ = ()
    _FIELDS: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Record) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # mutable, as a non-frozen dataclass

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"{self.__class__.__name__}({shown})"


class Parent(_Record):
    _FIELDS = ("msg_id", "kind", "meta")
    __slots__ = _FIELDS

    def __init__(self, msg_id: str, kind: str = "", meta: dict[str, str] | None = None) -> None:
        self.msg_id = msg_id
        self.kind = kind
        self.meta: dict[str, str] = {} if meta is None else meta


class Link(_Record):
    _FIELDS = ("url", "label", "kind")
    __slots__ = _FIELDS

    def __init__(self, url: str, label: str = "", kind: str = "") -> None:
        self.url = url
        self.label = label
        self.kind = kind


class Message(_Record):
    """One bus record. ``msg_id`` and ``ts`` are filled in on append when empty."""

    _FIELDS = (
        "type",
        "project_id",
        "body",
        "task_id",
        "run_id",
        "msg_id",
        "ts",
        "issue_id",
        "parents",
        "links",
        "meta",
    )
    __slots__ = _FIELDS

    def __init__(
        self,
        type: str,
        project_id: str,
        body: str = "",
        task_id: str = "",
        run_id: str = "",
        msg_id: str = "",
        ts: str = "",
        issue_id: str = "",
        parents: list[Parent] | None = None,
        links: list[Link] | None = None,
        meta: dict[str, str] | None = None,
    ) -> None:
        self.type = type
        self.project_id = project_id
        self.body = body
        self.task_id = task_id
        self.run_id = run_id
        self.msg_id = msg_id
        self.ts = ts
        self.issue_id = issue_id
        self.parents: list[Parent] = [] if parents is None else parents
        self.links: list[Link] = [] if links is None else links
        self.meta: dict[str, str] = {} if meta is None else meta

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form used by ``bus read --json`` and the API."""
        data: dict[str, Any] = {
            "msg_id": self.msg_id,
            "ts": self.ts,
            "type": self.type,
            "project_id": self.project_id,
            "task_id": self.task_id,
            "run_id": self.run_id,
        }
        if self.issue_id:
            data["issue_id"] = self.issue_id
        data["parents"] = [
            {"msg_id": p.msg_id, "kind": p.kind, "meta": dict(p.meta)} for p in self.parents
        ]
        data["links"] = [{"url": lk.url, "label": lk.label, "kind": lk.kind} for lk in self.links]
        data["meta"] = dict(self.meta)
        data["body"] = self.body
        return data


def quote_body(body: str) -> str | None:
    """``body`` with its record-opening lines quoted, or None when it has none."""
    if "msg_id:" not in body or _OPENS_RECORD().search(body) is None:
        return None
    return _QUOTABLE().sub(">", body)


def unquote_body(body: str) -> str:
    """The inverse of ``quote_body``."""
    if "msg_id:" not in body:
        return body
    return _QUOTED().sub("", body)


def replace_surrogates(msg: Message) -> bool:
    """Put U+FFFD for lone surrogates in every field; whether there were any.

    They are not text (UTF-8 cannot hold them) but reach us anyway: JSON may carry
    ``"\\ud800"``, and Python decodes undecodable argv bytes to them.
    """
    changed = False
    surrogate = _SURROGATE()

    def fix(text: str) -> str:
        nonlocal changed
        if surrogate.search(text) is None:
            return text
        changed = True
        return surrogate.sub("\ufffd", text)

    def fix_map(values: dict[str, str]) -> dict[str, str]:
        return {fix(key): fix(value) for key, value in values.items()}

    msg.type, msg.project_id, msg.body = fix(msg.type), fix(msg.project_id), fix(msg.body)
    msg.task_id, msg.run_id, msg.issue_id = fix(msg.task_id), fix(msg.run_id), fix(msg.issue_id)
    msg.msg_id, msg.ts, msg.meta = fix(msg.msg_id), fix(msg.ts), fix_map(msg.meta)
    msg.parents = [Parent(fix(p.msg_id), fix(p.kind), fix_map(p.meta)) for p in msg.parents]
    msg.links = [Link(fix(lk.url), fix(lk.label), fix(lk.kind)) for lk in msg.links]
    return changed


def format_record(msg: Message) -> str:
    """The record text for ``msg`` (which must already have msg_id and ts)."""
    parts = [
        "---\nmsg_id: ",
        scalar(msg.msg_id),
        "\nts: ",
        timestamp(msg.ts),
        "\ntype: ",
        scalar(msg.type),
        "\nproject_id: ",
        scalar(msg.project_id),
    ]
    if msg.task_id:
        parts += ("\ntask_id: ", scalar(msg.task_id))
    if msg.run_id:
        parts += ("\nrun_id: ", scalar(msg.run_id))
    if msg.issue_id:
        parts += ("\nissue_id: ", scalar(msg.issue_id))
    if msg.parents:
        parts.append("\nparents:")
        for parent in msg.parents:
            if not parent.kind and not parent.meta:
                parts += ("\n  - ", scalar(parent.msg_id))
                continue
            parts += ("\n  - msg_id: ", scalar(parent.msg_id))
            if parent.kind:
                parts += ("\n    kind: ", scalar(parent.kind))
            if parent.meta:
                parts.append("\n    meta:")
                for key, value in parent.meta.items():
                    parts += ("\n      ", scalar(key), ": ", scalar(value))
    if msg.links:
        parts.append("\nlinks:")
        for link in msg.links:
            parts += ("\n  - url: ", scalar(link.url))
            if link.label:
                parts += ("\n    label: ", scalar(link.label))
            if link.kind:
                parts += ("\n    kind: ", scalar(link.kind))
    if msg.meta:
        parts.append("\nmeta:")
        for key, value in msg.meta.items():
            parts += ("\n  ", scalar(key), ": ", scalar(value))
    body = msg.body
    quoted = quote_body(body)
    if quoted is not None:
        body = quoted
        parts += ("\nbody_encoding: ", QUOTED_BODY)
    # The declared length (in characters) lets readers skip bodies that contain
    # record-like text and tell a torn record (writer killed mid-write) from a complete one.
    parts += ("\nbody_length: ", str(len(body)), "\n---\n")
    if body:
        parts += (body, "\n")
    return "".join(parts)
