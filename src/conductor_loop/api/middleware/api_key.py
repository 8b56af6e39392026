"""The API key check (``Authorization: Bearer`` or ``X-API-Key``)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from conductor_loop.api.errors import send_error


class ApiKeyMiddleware:
    """Require the configured API key, except on public paths (health, version, metrics, UI).

    Accepts ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; compares in constant
    time. CORS preflight requests never reach this layer (the CORS middleware answers
    them), so browsers can discover the API before sending the key.
    """

    def __init__(self, app: ASGIApp, api_key: str, public_paths: Iterable[str]) -> None:
        self.app = app
        self._key = api_key.encode("utf-8")
        self._public_exact = frozenset(p for p in public_paths if not p.endswith("*"))
        self._public_prefixes = tuple(p[:-1] for p in public_paths if p.endswith("*"))

    def _is_public(self, path: str) -> bool:
        return path in self._public_exact or path.startswith(self._public_prefixes)

    def _presented(self, scope: Scope) -> bytes | None:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    return bytes(token.strip())
            elif name == b"x-api-key":
                return bytes(value.strip())
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        presented = self._presented(scope)
        if presented is None or not hmac.compare_digest(presented, self._key):
            await send_error(
                send,
                401,
                "unauthorized",
                "missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key'",
            )
            return
        await self.app(scope, receive, send)
