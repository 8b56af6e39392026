"""No DNS rebinding and no cross-site requests: ``Host``, ``Origin`` and ``Content-Type``.

- ``Host`` must name this server: a localhost name, an IP address (DNS rebinding needs a
  name that the attacker controls), the bound address, ``api.public_url``'s host or one
  of ``api.allowed_hosts`` (``.example.com`` matches sub-domains, ``*`` any host).
- A state-changing request (POST, PUT, PATCH, DELETE) coming from a browser page of
  another origin is refused: its ``Origin`` must be this server's own origin or one of
  ``api.cors_origins``; without an ``Origin``, ``Sec-Fetch-Site`` must not say
  cross-site or same-site (another port of the same host is another site's page).
- A state-changing request must say ``Content-Type: application/json``, even with no
  body: an HTML form or a ``no-cors`` fetch cannot send that without a CORS preflight,
  which only ``api.cors_origins`` pass.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from conductor_loop.api.errors import send_error
from conductor_loop.hosts import LOCAL_NAMES

STATE_CHANGING = frozenset(("POST", "PUT", "PATCH", "DELETE"))
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def split_host(value: str) -> tuple[str, str]:
    """``Host`` header value → (lower-case name without a trailing dot, port or "")."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return name.rstrip("."), port


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, without the scheme's default port."""
    parts = urlsplit(origin.strip().lower())
    if not parts.scheme or not parts.hostname:
        return origin.strip().lower()
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    try:
        port = parts.port
    except ValueError:
        return origin.strip().lower()
    if port is None or str(port) == _DEFAULT_PORTS.get(parts.scheme):
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


class HostPolicy:
    """Which ``Host`` header values name this server."""

    CACHE_SIZE = 1024

    def __init__(self, allowed: Iterable[str]) -> None:
        self._seen: dict[str, bool] = {}
        names: set[str] = set(LOCAL_NAMES)
        suffixes: list[str] = [".localhost"]
        self.any_host = False
        for entry in allowed:
            entry = entry.strip().lower().rstrip(".")
            if not entry:
                continue
            if entry == "*":
                self.any_host = True
            elif entry.startswith("."):
                suffixes.append(entry)
            else:
                names.add(split_host(entry)[0] if not _is_ip(entry) else entry)
        self.names = frozenset(names)
        self.suffixes = tuple(suffixes)

    def allows(self, host_header: str) -> bool:
        """Whether the header names this server; answers are remembered (a server sees few
        distinct Host values; the memory is cleared past ``CACHE_SIZE`` of them)."""
        known = self._seen.get(host_header)
        if known is None:
            if len(self._seen) >= self.CACHE_SIZE:
                self._seen.clear()
            known = self._seen[host_header] = self._allows(host_header)
        return known

    def _allows(self, host_header: str) -> bool:
        if self.any_host:
            return True
        name, _port = split_host(host_header)
        if not name:
            return False
        return name in self.names or name.endswith(self.suffixes) or _is_ip(name)


class RequestGuardMiddleware:
    def __init__(
        self, app: ASGIApp, *, allowed_hosts: Iterable[str], allowed_origins: Iterable[str]
    ) -> None:
        self.app = app
        self.hosts = HostPolicy(allowed_hosts)
        self.origins = frozenset(normalize_origin(o) for o in allowed_origins if o)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = origin = fetch_site = content_type = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"sec-fetch-site":
                fetch_site = value.decode("latin-1").strip().lower()
            elif name == b"content-type":
                content_type = value.decode("latin-1")
        if host is None or not self.hosts.allows(host):
            shown = "no Host header" if host is None else f"Host {host[:200]!r}"
            await send_error(
                send,
                403,
                "host_not_allowed",
                f"{shown} does not name this server; add the name to api.allowed_hosts "
                "(this check stops DNS-rebinding attacks)",
            )
            return
        if scope["method"] in STATE_CHANGING:
            refusal = self._cross_site(host, origin, fetch_site)
            if refusal:
                await send_error(send, 403, "cross_origin", refusal)
                return
            media_type = (content_type or "").partition(";")[0].strip().lower()
            if media_type != "application/json":
                await send_error(
                    send,
                    415,
                    "unsupported_media_type",
                    f"{scope['method']} requests must send 'Content-Type: application/json' "
                    "(also without a body); got "
                    + (repr(content_type[:100]) if content_type else "none"),
                )
                return
        await self.app(scope, receive, send)

    def _cross_site(self, host: str, origin: str | None, fetch_site: str | None) -> str | None:
        """Why a state-changing request from another site's page is refused, or None."""
        if origin is not None:
            normalized = normalize_origin(origin)
            if normalized in self.origins:
                return None
            own = {normalize_origin(f"{scheme}://{host}") for scheme in ("http", "https")}
            if normalized in own and normalized != "null":
                return None
            return (
                f"requests that change state are not accepted from the page at "
                f"{origin[:200]!r}; add that origin to api.cors_origins to allow it"
            )
        if fetch_site in ("cross-site", "same-site"):
            return (
                "requests that change state are not accepted from another site's page "
                f"(Sec-Fetch-Site: {fetch_site}); add its origin to api.cors_origins"
            )
        return None
