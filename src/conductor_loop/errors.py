"""One error hierarchy for the whole package.

Every error a user can act on carries a stable ``code``; the API maps codes to HTTP
statuses in one place (``api.errors``) and the CLIs print the message and exit non-zero.
"""

from __future__ import annotations


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
