"""A message bus record (spec §4) and its text form.

Records are written by hand-formatting the header (the append path must be fast);
``scalar`` guarantees every value reads back as the same string under any YAML loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conductor_loop.storage.yamlish import scalar, timestamp

RECORD_START = "---\nmsg_id:"


@dataclass(slots=True)
class Parent:
    msg_id: str
    kind: str = ""
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Link:
    url: str
    label: str = ""
    kind: str = ""


@dataclass(slots=True)
class Message:
    """One bus record. ``msg_id`` and ``ts`` are filled in on append when empty."""

    type: str
    project_id: str
    body: str = ""
    task_id: str = ""
    run_id: str = ""
    msg_id: str = ""
    ts: str = ""
    issue_id: str = ""
    parents: list[Parent] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)

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
    # The declared length lets readers skip bodies that contain record-like lines and
    # tell a torn record (writer killed mid-write) from a complete one.
    parts += ("\nbody_length: ", str(len(body)), "\n---\n")
    if body:
        parts += (body, "\n")
    return "".join(parts)
