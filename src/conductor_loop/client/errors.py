"""What a ``ConductorClient`` call raises: one class per kind of failure, so a caller
can tell "not there" from "not allowed" from "server down" without reading messages.

Every error from a reply carries the HTTP status and the ``code`` and ``message`` of
the API's uniform error body (``{"error": {"code", "message"}}``).
"""

from __future__ import annotations


class ConductorClientError(Exception):
    """Base of every client error. ``status`` is None when no HTTP reply was received."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})" if self.status else self.message


class ConnectionFailedError(ConductorClientError):
    """The server could not be reached, or the connection broke mid-reply."""


class ProtocolError(ConductorClientError):
    """The reply is not what the API sends (not JSON, a field missing): the URL may point
    at something else, or at a server of another version."""


class ApiError(ConductorClientError):
    """The server answered with an error status (one the subclasses do not name: 413,
    415, 429 ...)."""


class AuthenticationError(ApiError):
    """401: the server needs an API key, and none or a wrong one was sent."""


class ForbiddenError(ApiError):
    """403: a Host not allowed, a cross-site request, or a path through a symlink."""


class NotFoundError(ApiError):
    """404: no such project, task, run or route."""


class ConflictError(ApiError):
    """409: the request conflicts with the current state (the task exists, it runs)."""


class ValidationError(ApiError):
    """400 or 422: an invalid id, or a request that does not match the schema."""


class ServerError(ApiError):
    """5xx: the server failed (storage read-only, disk full, too many connections)."""


def error_for_status(status: int, code: str | None, message: str) -> ApiError:
    """The exception class for an HTTP error status."""
    if status == 401:
        cls: type[ApiError] = AuthenticationError
    elif status == 403:
        cls = ForbiddenError
    elif status == 404:
        cls = NotFoundError
    elif status == 409:
        cls = ConflictError
    elif status in (400, 422):
        cls = ValidationError
    elif status >= 500:
        cls = ServerError
    else:
        cls = ApiError
    return cls(message, status=status, code=code)
