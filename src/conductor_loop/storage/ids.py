"""Identifier formats and the one validator for ids that become path components.

Run ids and message ids embed the wall clock, the PID and a per-process counter, so
they are unique across processes and within one, and sort by time.
"""

from __future__ import annotations

import itertools
import os
import time

from conductor_loop.errors import InvalidIdError

MAX_ID_LENGTH = 128
MAX_SLUG_LENGTH = 48

_run_seq = itertools.count(1)
_msg_seq = itertools.count(1)
_seq_pid = os.getpid()


def _reset_after_fork() -> None:
    global _run_seq, _msg_seq, _seq_pid
    _run_seq = itertools.count(1)
    _msg_seq = itertools.count(1)
    _seq_pid = os.getpid()


os.register_at_fork(after_in_child=_reset_after_fork)


_last_second: tuple[int, str] = (-1, "")  # formatting the clock is most of an id's cost


def _utc_parts(ns: int) -> tuple[str, int]:
    """Return ``YYYYMMDD-HHMMSS`` for ``ns`` (UTC) and the nanoseconds within the second."""
    global _last_second
    seconds, frac_ns = divmod(ns, 1_000_000_000)
    cached_seconds, stamp = _last_second
    if seconds != cached_seconds:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(seconds))
        _last_second = (seconds, stamp)
    return stamp, frac_ns


def new_run_id(now_ns: int | None = None) -> str:
    """``YYYYMMDD-HHMMSSffff-PID-SEQ``: ffff is 1/10,000 s, SEQ counts from 1 per process."""
    stamp, frac_ns = _utc_parts(time.time_ns() if now_ns is None else now_ns)
    return f"{stamp}{frac_ns // 100_000:04d}-{os.getpid()}-{next(_run_seq)}"


def utc_stamp(now_ns: int | None = None) -> str:
    """A time stamp in run-id format, for file names such as ``FACT-<stamp>-<name>.md``."""
    return new_run_id(now_ns)


def new_msg_id(now_ns: int | None = None) -> str:
    """``MSG-YYYYMMDD-HHMMSS-<9-digit ns>-PID<5-digit pid>-<4-digit seq>``."""
    stamp, frac_ns = _utc_parts(time.time_ns() if now_ns is None else now_ns)
    return f"MSG-{stamp}-{frac_ns:09d}-PID{os.getpid():05d}-{next(_msg_seq):04d}"


def slugify(text: str, max_length: int = MAX_SLUG_LENGTH) -> str:
    """Lowercase ``[a-z0-9-]`` slug of ``text``, at most ``max_length`` chars, never empty."""
    import re  # here: `bus post` validates ids with this module and never needs ``re``

    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:max_length].rstrip("-")
    return slug or "task"


def new_task_id(hint: str = "", now: float | None = None) -> str:
    """Recommended task id ``task-YYYYMMDD-HHMMSS-<slug>`` (slug from ``hint``)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"task-{stamp}-{slugify(hint)}"


_FORBIDDEN_CHARS = frozenset("/\\\x00")
_CONTROL_CHARS = frozenset(map(chr, [*range(0x20), 0x7F]))


def validate_id(value: object, kind: str = "id") -> str:
    """Return ``value`` if it is safe as a single path component, else raise InvalidIdError.

    This is the one check every entry point (CLI, API, runner, bus) uses before an id
    becomes part of a path, so nothing can resolve outside the runs root.
    """
    if not isinstance(value, str):
        raise InvalidIdError(f"{kind} must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidIdError(f"{kind} must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdError(f"{kind} is longer than {MAX_ID_LENGTH} characters")
    if value.startswith("."):
        raise InvalidIdError(f"{kind} {value!r} must not start with a dot")
    bad = _FORBIDDEN_CHARS.intersection(value)
    if bad:
        shown = ", ".join(sorted(repr(c) for c in bad))
        raise InvalidIdError(f"{kind} {value!r} contains forbidden characters: {shown}")
    if not _CONTROL_CHARS.isdisjoint(value):
        raise InvalidIdError(f"{kind} {value!r} contains control characters")
    if value != value.strip():
        raise InvalidIdError(f"{kind} {value!r} has leading or trailing whitespace")
    return value
