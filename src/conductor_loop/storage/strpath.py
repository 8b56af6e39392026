"""Paths as strings, spelled exactly as ``pathlib`` spells them, without importing it.

``run-agent bus post`` runs once per message, so what it imports is most of its cost, and
``pathlib`` (with ``re``, ``fnmatch``, ``urllib.parse`` and ``ipaddress``) was a third of
that. The bus locator, the runs-root layout and the writer build their paths here, and
``RunsRoot`` turns them into ``Path`` objects for everyone else, so both spell a path alike.
"""

from __future__ import annotations

import os


def normal(path: str) -> str:
    """``str(Path(path))`` on POSIX: repeated slashes and ``.`` components removed, ``..``
    kept, a leading ``//`` (exactly two) kept, no trailing slash; ``.`` for nothing."""
    if path.startswith("/"):
        lead = "//" if path.startswith("//") and not path.startswith("///") else "/"
    else:
        lead = ""
    parts = [part for part in path.split("/") if part and part != "."]
    return lead + "/".join(parts) if parts or lead else "."


def absolute(path: str) -> str:
    """``str(Path(path).expanduser().absolute())`` (a ``~user`` that cannot be expanded
    is kept as a name, where pathlib would raise RuntimeError)."""
    if path.startswith("~"):
        path = os.path.expanduser(path)
    if not path.startswith("/"):
        path = os.getcwd() + "/" + path
    return normal(path)


def join(directory: str, *names: str) -> str:
    """``str(Path(directory, *names))`` for a normal ``directory`` and plain ``names``
    (single components: no slash, not empty, not ``.``)."""
    if directory == ".":
        return "/".join(names)
    sep = "" if directory.endswith("/") else "/"
    return directory + sep + "/".join(names)


def parent(path: str) -> str:
    """``str(Path(path).parent)`` for a normal ``path``."""
    cut = path.rfind("/")
    if cut < 0:
        return "."
    head = path[:cut]
    if head.strip("/"):
        return head
    return path[: cut + 1]  # "/" or "//"


def name(path: str) -> str:
    """``Path(path).name`` for a normal ``path``."""
    tail = path[path.rfind("/") + 1 :]
    return "" if tail == "." else tail
