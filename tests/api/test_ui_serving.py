"""The built UI at /ui/: client-side routes, cache headers, real 404s for assets."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from conductor_loop.api.routes.ui import IMMUTABLE, mount_ui


def _client(tmp_path: Path) -> TestClient:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><script src=/ui/assets/app-1a2b.js></script>")
    (dist / "assets" / "app-1a2b.js").write_text("console.log(1)")
    app = FastAPI()
    assert mount_ui(app, dist)
    return TestClient(app, base_url="http://localhost")


def test_assets_are_immutable_and_index_revalidates(tmp_path: Path) -> None:
    client = _client(tmp_path)
    asset = client.get("/ui/assets/app-1a2b.js")
    assert asset.status_code == 200 and asset.headers["cache-control"] == IMMUTABLE
    index = client.get("/ui/")
    assert index.status_code == 200 and index.headers["cache-control"] == "no-cache"


def test_client_routes_get_index_but_missing_assets_404(tmp_path: Path) -> None:
    client = _client(tmp_path)
    route = client.get("/ui/projects/demo/tasks/t1")
    assert route.status_code == 200 and "<!doctype html>" in route.text
    assert route.headers["cache-control"] == "no-cache"
    assert client.get("/ui/assets/gone-9z9z.js").status_code == 404


def test_root_redirects_to_the_ui(tmp_path: Path) -> None:
    response = _client(tmp_path).get("/", follow_redirects=False)
    assert response.status_code in (302, 307) and response.headers["location"] == "/ui/"
