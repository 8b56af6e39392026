"""Plain ASGI middleware, one module each.

Plain ASGI (not ``BaseHTTPMiddleware``) so that streaming responses pass straight
through and client disconnects reach the SSE generators. ``api.app`` stacks them,
outermost first: request context (ids, access log, metrics), path guard, request
guard (Host, Origin, Content-Type), CORS, body limit, API key, constant routes
(health and version, answered without FastAPI), message posts (also without FastAPI).
"""

from conductor_loop.api.middleware.api_key import ApiKeyMiddleware
from conductor_loop.api.middleware.body_limit import BodySizeLimitMiddleware
from conductor_loop.api.middleware.constant import ConstantRoutesMiddleware
from conductor_loop.api.middleware.context import RequestContextMiddleware
from conductor_loop.api.middleware.path_guard import PathGuardMiddleware
from conductor_loop.api.middleware.request_guard import RequestGuardMiddleware

__all__ = [
    "ApiKeyMiddleware",
    "BodySizeLimitMiddleware",
    "ConstantRoutesMiddleware",
    "PathGuardMiddleware",
    "RequestContextMiddleware",
    "RequestGuardMiddleware",
]
