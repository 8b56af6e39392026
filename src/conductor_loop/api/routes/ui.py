"""The web UI's static build at ``/ui/`` (``/`` redirects there), or a note that it is missing."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

UI_PREFIX = "/ui"

_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Conductor Loop</title></head>
<body>
<h1>Conductor Loop</h1>
<p>The web UI is not built. Build it with <code>npm ci &amp;&amp; npm run build</code> in
<code>frontend/</code>; the files go to <code>src/conductor_loop/web/dist/</code>.</p>
<p>The API is available: <a href="/docs">/docs</a>, <a href="/api/v1/health">/api/v1/health</a>.</p>
</body></html>
"""


def default_dist_dir() -> Path:
    import conductor_loop.web

    return Path(conductor_loop.web.__file__).parent / "dist"


ASSETS_DIR = "assets"
IMMUTABLE = "public, max-age=31536000, immutable"


class SinglePageApp(StaticFiles):
    """Static files, with ``index.html`` for unknown paths (client-side routes).

    Vite names built assets by content hash, so they are cached for a year; ``index.html``
    names the current ones, so browsers must revalidate it (``no-cache``) or they would
    keep loading assets that a rebuild removed. A missing asset is a real 404, never
    ``index.html`` served as JavaScript.
    """

    async def get_response(self, path: str, scope: Scope) -> Response:
        is_asset = path.startswith(ASSETS_DIR + "/")
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404 or is_asset:
                raise
            response = await super().get_response("index.html", scope)
            is_asset = False
        if is_asset and response.status_code == 200:
            response.headers["Cache-Control"] = IMMUTABLE
        elif response.headers.get("content-type", "").startswith("text/html"):
            response.headers["Cache-Control"] = "no-cache"
        return response


def mount_ui(app: FastAPI, dist_dir: Path | None = None) -> bool:
    """Serve the UI; returns whether a built UI was found."""
    dist = dist_dir or default_dist_dir()

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(UI_PREFIX + "/")

    if (dist / "index.html").is_file():
        app.mount(UI_PREFIX, SinglePageApp(directory=dist, html=True), name="ui")
        return True

    @app.get(UI_PREFIX + "/", include_in_schema=False)
    async def ui_missing() -> HTMLResponse:
        return HTMLResponse(_NOT_BUILT)

    @app.get(UI_PREFIX, include_in_schema=False)
    async def ui_redirect() -> RedirectResponse:
        return RedirectResponse(UI_PREFIX + "/")

    return False
