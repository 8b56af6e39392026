"""One error hierarchy for the whole package.

Every error a user can act on carries a stable ``code``; the API maps codes to HTTP
statuses in one place (``api.errors``) and the CLIs print the message and exit non-zero.
"""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `bus post` start-up
if TYPE_CHECKING:
    from types import TracebackType

# A runner exits with this status when it cannot write under the runs root (sysexits'
# EX_IOERR); its one ``error:`` line names the path and the cause.
EXIT_STORAGE = 74

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# Only ever raised by a write: safe to read as "cannot write" wherever they come from.
_WRITE_ONLY_ERRNOS = FULL_ERRNOS | {errno.EROFS}
# Also raised by reads; "cannot write" only when we know a write failed.
_WRITE_ERRNOS = _WRITE_ONLY_ERRNOS | {errno.EACCES, errno.EPERM}


class ConductorError(Exception):
    """Base class: ``code`` is machine-readable, the message is for people."""

    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidIdError(ConductorError, ValueError):
    """An identifier that would become a path component is unsafe or malformed."""

    code = "invalid_id"


class InvalidRequestError(ConductorError, ValueError):
    """Input is well-formed but not acceptable (empty prompt, bad duration, …)."""

    code = "invalid_request"


class ConfigError(ConductorError):
    """The configuration file is missing, unreadable or invalid."""

    code = "config_invalid"


class NotFoundError(ConductorError, LookupError):
    """A project, task, run or file does not exist."""

    code = "not_found"


class UnknownMessageIdError(NotFoundError):
    """``since``/``after`` named a message id that is not in the bus."""

    code = "unknown_message_id"


class ContainmentError(ConductorError, PermissionError):
    """A path under the runs root goes through a symlink (spec §3: none inside the tree).

    Also a PermissionError: code that treats an unreadable file as absent or failed
    treats a refused one the same way.
    """

    code = "path_outside_root"


class ConflictError(ConductorError):
    """The request conflicts with current state (task already running, …)."""

    code = "conflict"


class BusLockTimeoutError(ConductorError, TimeoutError):
    """The message bus lock could not be taken within the bounded wait."""

    code = "bus_locked"


class AgentError(ConductorError):
    """An agent backend could not be started or failed in a way worth naming."""

    code = "agent_error"


class StorageError(ConductorError, OSError):
    """A write under the runs root failed: the disk is full (``storage_full``) or it is
    read-only or not writable (``storage_unwritable``). The message names the path and
    the cause. Also an OSError, so code that tolerates a failed write still does."""

    code = "storage_unwritable"

    def __init__(self, err: int, path: str | os.PathLike[str] | None, detail: str = "") -> None:
        full = err in FULL_ERRNOS
        where = f" {os.fspath(path)}" if path is not None else " under the runs root"
        hint = "the disk is full" if full else "the runs root is read-only or not writable"
        detail = f"; {detail}" if detail else ""
        super().__init__(f"cannot write{where}: {os.strerror(err)} ({hint}){detail}")
        self.code = "storage_full" if full else "storage_unwritable"
        self.errno = err
        self.strerror = os.strerror(err)
        self.filename = None if path is None else os.fspath(path)

    def __str__(self) -> str:
        return self.message


def storage_error(
    exc: BaseException, path: str | os.PathLike[str] | None = None, *, writing: bool = True
) -> StorageError | None:
    """``exc`` as a StorageError if it says the disk is full or not writable, else None.

    It names ``path`` (what the caller was writing), else the path the error names.
    ``writing=False``: we do not know that a write failed, so only the errors that no
    read can give count (not EACCES/EPERM).
    """
    if isinstance(exc, StorageError):
        return exc
    if not isinstance(exc, OSError) or exc.errno is None:
        return None
    if exc.errno not in (_WRITE_ERRNOS if writing else _WRITE_ONLY_ERRNOS):
        return None
    if path is None and isinstance(exc.filename, str | bytes | os.PathLike):
        path = os.fsdecode(exc.filename)
    return StorageError(exc.errno, path)


def os_error_text(exc: OSError) -> str:
    """An OSError that is not the disk's fault (a directory where a file should be, a
    permission) as one line for people: the path it names and why."""
    reason = exc.strerror or str(exc)
    if isinstance(exc.filename, str | bytes | os.PathLike):
        return f"cannot use {os.fsdecode(exc.filename)!r}: {reason}"
    return reason


def storage_writes(path: str | os.PathLike[str]) -> _StorageWrites:
    """Writes to ``path`` inside (``with storage_writes(path): ...``): a full or
    unwritable disk raises StorageError naming it (a failed ``write`` on an open file
    names no path of its own)."""
    return _StorageWrites(path)


class _StorageWrites:
    """``storage_writes``'s context manager; a class, as ``contextlib`` would cost
    ``run-agent bus post`` more than the rest of this module."""

    __slots__ = ("path",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, OSError):
            error = storage_error(exc, self.path)
            if error is not None and error is not exc:
                raise error from exc
