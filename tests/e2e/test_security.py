"""Security in a real browser (issue 10): another origin's page cannot start or resume
work, and the login URL of a generated key logs the UI in."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import expect

from tests.api.helpers import seed_run
from tests.e2e.helpers import Ui, tree_row
from tests.support import wait_until

pytestmark = pytest.mark.e2e

LOGIN_URL = re.compile(r"(http://127\.0\.0\.1:\d+/ui/)#key=([A-Za-z0-9_\-]+)")

ATTACK_PAGE = """<!doctype html>
<html><body>
<iframe name="sink" id="sink"></iframe>
<form id="resume" method="POST" target="sink" enctype="application/x-www-form-urlencoded"
      action="{api}/api/projects/proj/tasks/t1/resume"><input name="x" value="1"></form>
<script>
window.results = {{}};
const task = JSON.stringify({{project_id: "proj", task_id: "evil", prompt: "FAKE: write-done"}});
async function attack() {{
  try {{
    await fetch("{api}/api/v1/tasks", {{method: "POST", mode: "no-cors", body: task}});
    window.results.noCors = "sent";
  }} catch (error) {{ window.results.noCors = "error: " + error; }}
  try {{
    await fetch("{api}/api/projects/proj/tasks/t1/resume", {{method: "POST", mode: "no-cors"}});
    window.results.bodiless = "sent";
  }} catch (error) {{ window.results.bodiless = "error: " + error; }}
  try {{
    const answer = await fetch("{api}/api/v1/tasks", {{
      method: "POST", headers: {{"Content-Type": "application/json"}}, body: task}});
    window.results.cors = "status " + answer.status;
  }} catch (error) {{ window.results.cors = "blocked"; }}
  const sink = document.getElementById("sink");
  sink.addEventListener("load", () => {{ window.results.form = "sent"; }});
  document.getElementById("resume").submit();
}}
attack();
</script>
</body></html>
"""


@pytest.fixture
def attacker_origin(ui: Ui) -> Iterator[str]:
    """A second local server: the other origin whose page attacks the API."""
    page = ATTACK_PAGE.format(api=ui.server.url).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def posts_logged(ui: Ui) -> list[str]:
    return [
        line
        for line in ui.server.log_text().splitlines()
        if '"POST /api/v1/tasks"' in line or '"POST /api/projects/proj/tasks/t1/resume"' in line
    ]


def test_another_origin_cannot_start_or_resume_a_task(ui: Ui, attacker_origin: str) -> None:
    created = ui.start_task("proj", "t1", "FAKE: write-done\n")
    api = ui.api()
    wait_until(
        lambda: api.get("/api/projects/proj/tasks/t1").json()["status"] == "completed",
        30,
        "the task to complete",
    )
    done_file = ui.root.task_dir("proj", "t1") / "DONE"
    runs_before = ui.root.run_ids("proj", "t1")
    logged_before = len(posts_logged(ui))

    page = ui.page
    page.goto(attacker_origin + "/")
    results = wait_until(
        lambda: (r := page.evaluate("window.results")) and len(r) == 4 and r,
        20,
        "the attack page to finish",
        interval=0.1,
    )
    assert results["cors"] == "blocked", results  # the preflight is refused
    # The simple requests did reach the server, and were refused there.
    refused = wait_until(
        lambda: (lines := posts_logged(ui)[logged_before:]) and len(lines) >= 3 and lines,
        10,
        "the refused requests in the access log",
    )
    assert all(" 403 " in line or " 415 " in line for line in refused), refused

    assert done_file.exists()
    assert ui.root.run_ids("proj", "t1") == runs_before
    assert not ui.root.task_dir("proj", "evil").exists()
    listed = api.get("/api/v1/tasks", params={"project_id": "proj"}).json()
    assert [t["task_id"] for t in listed["tasks"]] == ["t1"], json.dumps(listed)[:500]
    assert created["task_id"] == "t1"


def test_the_login_url_of_a_generated_key_logs_the_ui_in(wide_ui: Ui) -> None:
    found = LOGIN_URL.search(wide_ui.server.log_text())
    assert found, wide_ui.server.log_text()
    ui_url, key = found.group(1), found.group(2)
    assert ui_url == wide_ui.url("/ui/")
    seed_run(wide_ui.root, "locked", "task-one", stdout="hello\n")
    assert httpx.get(wide_ui.url("/api/projects"), timeout=10).status_code == 401

    page = wide_ui.page
    page.goto(found.group(0))
    expect(tree_row(page, "p:locked")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert "key=" not in page.url  # dropped from the address bar (and so from history)
    assert page.evaluate("localStorage.getItem('conductor.apiKey')") == key
    events = page.locator(".topbar [data-stream-state]")
    expect(events).to_have_attribute("data-stream-state", "live")

    # The next visit, without the fragment, is still logged in.
    page.goto(ui_url)
    expect(tree_row(page, "p:locked")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
