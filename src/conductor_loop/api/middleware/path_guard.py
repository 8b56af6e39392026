"""Dot segments and encoded separators in the URL path get a 400 before routing."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from conductor_loop.api.errors import send_error

_ENCODED_SEPARATORS = (b"%2f", b"%5c", b"%00")


class PathGuardMiddleware:
    """Reject dot segments and encoded separators in the URL path with 400.

    Path parameters are ids and are validated where they are declared; this layer
    catches what would otherwise never reach them (``%2F`` splitting a segment in two,
    ``..`` segments), so traversal attempts get the same 400 wherever they point.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def _suspect(scope: Scope) -> bool:
        """Whether the path has any character that the full check looks for (most do not)."""
        path: str = scope["path"]
        raw: bytes = scope.get("raw_path") or b""
        return b"%" in raw or "." in path or "\\" in path or "\x00" in path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._suspect(scope):
            raw = (scope.get("raw_path") or b"").lower()
            segments = scope["path"].split("/")
            if any(sep in raw for sep in _ENCODED_SEPARATORS) or any(
                s in (".", "..") or "\\" in s or "\x00" in s for s in segments
            ):
                await send_error(
                    send,
                    400,
                    "invalid_id",
                    "the URL path contains '.', '..', an encoded separator or a NUL; "
                    "ids must be single, plain path components",
                )
                return
        await self.app(scope, receive, send)
