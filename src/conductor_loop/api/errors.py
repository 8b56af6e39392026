"""Error responses: one body shape and one code → status table for the whole API.

Every error the API returns, whether raised by our services (``ConductorError``), by
routing (404/405), by request validation (422) or by a middleware (401, 413), has the
body ``{"error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from starlette.types import Send

from conductor_loop.errors import ConductorError, storage_error

if TYPE_CHECKING:
    # Imported where used: the middleware and the start-up app send errors before (and
    # without) FastAPI being imported.
    from fastapi import FastAPI, Request
    from starlette.responses import Response

log = logging.getLogger("conductor_loop.api")

STATUS_BY_CODE: dict[str, int] = {
    "invalid_id": 400,
    "invalid_request": 400,
    "config_invalid": 400,
    "dependency_cycle": 400,
    "unauthorized": 401,
    # A symlink inside the runs root: the request is fine, the server refuses to follow it.
    "path_outside_root": 403,
    "not_found": 404,
    "unknown_message_id": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "payload_too_large": 413,
    "validation_error": 422,
    "internal_error": 500,
    "launch_failed": 500,
    "agent_error": 502,
    "bus_locked": 503,
    # A full disk is 507 Insufficient Storage. A read-only or unwritable one is 503: the
    # server cannot take writes until someone fixes its storage (remount, permissions),
    # and a client should see "unavailable, retry later", not "too big".
    "storage_unwritable": 503,
    "storage_full": 507,
}

_CODE_BY_STATUS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
}


def status_for(code: str) -> int:
    return STATUS_BY_CODE.get(code, 500)


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode("utf-8")


def error_response(status: int, code: str, message: str) -> Response:
    from starlette.responses import Response

    return Response(error_body(code, message), status_code=status, media_type="application/json")


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    """Send a complete error response from plain ASGI middleware."""
    body = error_body(code, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _conductor_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConductorError)
    status = status_for(exc.code)
    if status >= 500:
        log.error("request failed: %s: %s", exc.code, exc.message)
    return error_response(status, exc.code, exc.message)


async def _http_error(_request: Request, exc: Exception) -> Response:
    from starlette.exceptions import HTTPException as StarletteHTTPException

    assert isinstance(exc, StarletteHTTPException)
    code = _CODE_BY_STATUS.get(
        exc.status_code, "internal_error" if exc.status_code >= 500 else "error"
    )
    message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    response = error_response(exc.status_code, code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _describe(error: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "request"
    return f"{loc}: {error.get('msg', 'invalid')}"


async def _validation_error(_request: Request, exc: Exception) -> Response:
    from fastapi.exceptions import RequestValidationError

    assert isinstance(exc, RequestValidationError)
    problems = [_describe(dict(e)) for e in exc.errors()[:10]]
    return error_response(422, "validation_error", "; ".join(problems) or "invalid request")


async def _os_error(request: Request, exc: Exception) -> Response:
    """A full or read-only disk under any route: 507/503 naming the path, not a 500."""
    error = storage_error(exc, writing=False)
    if error is None:
        return await _unexpected(request, exc)
    return await _conductor_error(request, error)


async def _unexpected(request: Request, exc: Exception) -> Response:
    rid = request.scope.get("state", {}).get("request_id", "")
    log.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, rid)
    return error_response(500, "internal_error", f"internal server error (request id {rid})")


def install_error_handlers(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    app.add_exception_handler(ConductorError, _conductor_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OSError, _os_error)
    app.add_exception_handler(Exception, _unexpected)
