"""Fixtures for the browser tests: a real server with the fake agents, and Chromium.

These tests are opt-in, like the container tests: a plain ``pytest`` leaves them out;
they run with ``-m e2e``, when ``tests/e2e`` is named on the command line, or with
``CONDUCTOR_E2E_TESTS=1`` (``make e2e`` does the first). Once asked for, a missing
piece is a loud failure, never a skip:

- Chromium from Debian (``apt-get install -y chromium``; ``CONDUCTOR_CHROMIUM``
  names another binary). Playwright's own browser downloads are not used.
- The Playwright library (``pip install playwright``).
- The built UI in ``src/conductor_loop/web/dist`` (``make ui``).

Each test gets its own runs root, server (``conductor`` on a free loopback port),
browser profile and page; its last screen is saved to ``test-artifacts/e2e/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import server_env, start_server, write_config
from tests.e2e.helpers import ARTIFACTS, REPO, Ui, agents_config_text
from tests.support import suite_requested

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Playwright

HERE = Path(__file__).resolve().parent
UI_INDEX = REPO / "src" / "conductor_loop" / "web" / "dist" / "index.html"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 900}
TIMEOUT_MS = 20_000


def _asked_for(config: pytest.Config) -> bool:
    return suite_requested(config, HERE, "e2e", "CONDUCTOR_E2E_TESTS")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Not asked for: the test modules are not even imported (they need Playwright)."""
    if collection_path.name.startswith("test_") and HERE in collection_path.parents:
        return not _asked_for(config) or None
    return None


@pytest.fixture(scope="session")
def chromium() -> Path:
    path = Path(os.environ.get("CONDUCTOR_CHROMIUM", "/usr/bin/chromium"))
    if not path.is_file():
        pytest.fail(
            f"no Chromium at {path}: apt-get install -y chromium (or set CONDUCTOR_CHROMIUM)"
        )
    return path


@pytest.fixture(scope="session")
def built_ui() -> Path:
    if not UI_INDEX.is_file():
        pytest.fail(f"the web UI is not built ({UI_INDEX} is missing): run `make ui`")
    return UI_INDEX.parent


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Playwright library is missing: `.venv/bin/pip install playwright`")
    with sync_playwright() as driver:
        yield driver


def _start_ui(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    playwright: Playwright,
    chromium: Path,
    config_extra: str = "",
    api_key: str | None = None,
    root: RunsRoot | None = None,
    host: str = "127.0.0.1",
) -> Iterator[Ui]:
    runs_root = root or RunsRoot.at(tmp_path / "runs")
    runs_root.path.mkdir(parents=True, exist_ok=True)
    extra = config_extra + (f"api:\n  api_key: {api_key}\n" if api_key else "")
    config = write_config(tmp_path / "config.yaml", agents_config_text(tmp_path / "bin", extra))
    env = server_env(CONDUCTOR_STATE_DIR=str(tmp_path / "state"))
    server = start_server(runs_root, config, tmp_path / "server.log", env=env, host=host)
    context: BrowserContext | None = None
    try:
        # A fresh profile per test: no key in local storage, no cache from another test.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(chromium),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=VIEWPORT,  # type: ignore[arg-type]
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        ui = Ui(server=server, page=page, name=request.node.name, api_key=api_key)
        page.on("pageerror", lambda error: ui.page_errors.append(str(error)))
        yield ui
        ui.screenshot("final")
        assert not ui.page_errors, f"JavaScript errors on the page: {ui.page_errors}"
    finally:
        if context is not None:
            context.close()
        server.stop()
        log = tmp_path / "server.log"
        if log.exists():
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, ARTIFACTS / f"{request.node.name}-server.log")


@pytest.fixture
def ui(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    playwright: Playwright,
    chromium: Path,
    built_ui: Path,
) -> Iterator[Ui]:
    """A server with the fake agents and a browser page (nothing opened yet)."""
    yield from _start_ui(request, tmp_path, playwright, chromium)


@pytest.fixture
def keyed_ui(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    playwright: Playwright,
    chromium: Path,
    built_ui: Path,
) -> Iterator[Ui]:
    """Like ``ui``, with the server requiring the API key ``e2e-key-1234``."""
    yield from _start_ui(request, tmp_path, playwright, chromium, api_key="e2e-key-1234")


@pytest.fixture
def wide_ui(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    playwright: Playwright,
    chromium: Path,
    built_ui: Path,
) -> Iterator[Ui]:
    """Like ``ui``, with the server bound to 0.0.0.0 and so using a generated API key."""
    yield from _start_ui(request, tmp_path, playwright, chromium, host="0.0.0.0")
