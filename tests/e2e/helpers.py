"""Helpers for the browser tests: the test's world (server, page, API) and its config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import ServerProcess
from tests.fakes import fake_agents_config_text, install_fake_agents

if TYPE_CHECKING:  # the library is needed only when the browser tests run
    from playwright.sync_api import Locator, Page

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "e2e"


def agents_config_text(bin_dir: Path, extra: str = "") -> str:
    """Config with the fake claude/codex/gemini CLIs and quick loop timings."""
    install_fake_agents(bin_dir)
    return fake_agents_config_text(bin_dir, max_restarts=5) + extra


@dataclass
class Ui:
    """One test's world: the server, an API client for set-up, and the browser page."""

    server: ServerProcess
    page: Page
    name: str
    api_key: str | None = None
    page_errors: list[str] = field(default_factory=list)

    @property
    def root(self) -> RunsRoot:
        return self.server.root

    def url(self, path: str = "/ui/") -> str:
        return self.server.url + path

    def open(self, path: str = "/ui/") -> Page:
        self.page.goto(self.url(path))
        return self.page

    def api(self) -> httpx.Client:
        headers = {"Content-Type": "application/json"}  # as the UI sends on every POST
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return self.server.client(headers=headers)

    def start_task(self, project: str, task: str, prompt: str, **extra: Any) -> dict[str, Any]:
        body = {"project_id": project, "task_id": task, "prompt": prompt, **extra}
        response = self.api().post("/api/v1/tasks", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def screenshot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path))
        return path


def tree_row(page: Page, row_id: str) -> Locator:
    """An explorer tree row by id: ``p:<project>``, ``t:<project>/<task>`` or ``r:<run>``."""
    return page.get_by_role("tree").locator(f'[data-row-id="{row_id}"]')
