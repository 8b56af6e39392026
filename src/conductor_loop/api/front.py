"""The layers in front of the routes: request context, guards, CORS, health and version.

Built here without FastAPI, so that the same stack serves from the first request while
the FastAPI app is still being imported and built (``startup.StartupApp``), and wraps
the finished app in ``app.create_app``. Outermost first: request context (ids, access
log, request counts), path guard, request guard (Host, Origin, Content-Type), CORS, body
limit, API key, constant routes (health and version).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp

from conductor_loop import __version__
from conductor_loop.api.middleware import (
    ApiKeyMiddleware,
    BodySizeLimitMiddleware,
    ConstantRoutesMiddleware,
    PathGuardMiddleware,
    RequestContextMiddleware,
    RequestGuardMiddleware,
)
from conductor_loop.api.middleware.context import AccessLog, RequestTally
from conductor_loop.api.settings import AppSettings
from conductor_loop.config.models import Config

PUBLIC_PATHS = (
    "/",
    "/api/v1/health",
    "/api/v1/version",
    "/metrics",
    "/ui",
    "/ui/*",
    "/docs",
    "/docs/*",
    "/openapi.json",
)

# Answered by the front itself, at once, also while the app is being built.
CONSTANT_ANSWERS: dict[str, Any] = {
    "/api/v1/health": {"status": "ok"},
    "/api/v1/version": {"name": "conductor-loop", "version": __version__},
}

# A middleware class and its keyword arguments, as ``Starlette.add_middleware`` takes them.
Layer = tuple[type[Any], dict[str, Any]]


def front_layers(
    config: Config, settings: AppSettings, requests: RequestTally, access: AccessLog
) -> list[Layer]:
    """The layers, innermost first (the order ``add_middleware`` wants)."""
    api_key = config.api.resolve_api_key()
    layers: list[Layer] = [(ConstantRoutesMiddleware, {"answers": CONSTANT_ANSWERS})]
    if api_key:
        layers.append((ApiKeyMiddleware, {"api_key": api_key, "public_paths": PUBLIC_PATHS}))
    layers.append((BodySizeLimitMiddleware, {"max_bytes": config.api.max_body_bytes}))
    if config.api.cors_origins:
        from starlette.middleware.cors import CORSMiddleware  # only when configured

        cors = {
            "allow_origins": config.api.cors_origins,
            "allow_methods": ["GET", "POST", "DELETE", "OPTIONS"],
            "allow_headers": [
                "Authorization",
                "X-API-Key",
                "Content-Type",
                "Last-Event-ID",
                "X-Request-ID",
            ],
            "expose_headers": ["X-Request-ID", "X-Conductor-Instance", "X-Conductor-Worker"],
            "max_age": 600,
        }
        layers.append((CORSMiddleware, cors))
    guard = {
        "allowed_hosts": _allowed_hosts(config, settings),
        "allowed_origins": _allowed_origins(config),
    }
    layers.append((RequestGuardMiddleware, guard))
    layers.append((PathGuardMiddleware, {}))
    layers.append((RequestContextMiddleware, {"requests": requests, "access": access}))
    return layers


def wrap(app: ASGIApp, layers: list[Layer]) -> ASGIApp:
    """``app`` inside ``layers`` (innermost first), as Starlette would stack them."""
    for cls, options in layers:
        app = cls(app, **options)
    return app


def _allowed_hosts(config: Config, settings: AppSettings) -> list[str]:
    hosts = list(config.api.allowed_hosts)
    if settings.bound_host and settings.bound_host not in ("0.0.0.0", "::"):
        hosts.append(settings.bound_host)
    if config.api.public_url and (public := urlsplit(config.api.public_url).hostname):
        hosts.append(public)
    return hosts


def _allowed_origins(config: Config) -> list[str]:
    origins = list(config.api.cors_origins)
    if config.api.public_url:
        origins.append(config.api.public_url)
    return origins
