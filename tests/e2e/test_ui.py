"""The web UI in Chromium against a real server whose agents are the fake CLIs.

Each test drives the page as a person would (forms, buttons, keys) and checks what
the page shows; the server and files on disk confirm the effect where it matters.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from conductor_loop.bus import BusWriter, Message
from conductor_loop.storage.runinfo import read_run_info
from tests.api.helpers import seed_run
from tests.e2e.helpers import Ui, tree_row
from tests.support import wait_until

pytestmark = pytest.mark.e2e

TWO_ITERATIONS_WITH_A_CHILD = (
    "Loop twice, starting a helper on the way\n"
    "FAKE: run run-agent job --agent codex --prompt 'FAKE: print-lines 2 0.05'\n"
    "FAKE: print-lines 4 0.1\n"
    "FAKE@2: write-done\n"
)


def test_start_task_from_the_form_and_watch_its_output_live(ui: Ui) -> None:
    page = ui.open()
    page.get_by_role("button", name="New task").click()
    dialog = page.get_by_role("dialog", name="Start a task")
    dialog.get_by_label("Project").fill("e2e")
    dialog.get_by_label("Prompt (TASK.md)").fill(
        "Count to thirty, slowly\nFAKE: print-lines 30 0.1\nFAKE@2: write-done\n"
        "FAKE: answer ## Counted\nFAKE: answer - **thirty** lines, then `done`\n"
    )
    task_id_field = dialog.get_by_label("Task id")
    expect(task_id_field).to_have_value(re.compile(r"^task-\d{8}-\d{6}-count-to-thirty-slowly$"))
    task_id = task_id_field.input_value()
    expect(dialog.get_by_label("Agent")).to_have_value("claude")
    dialog.get_by_role("button", name="Start task").click()

    expect(page).to_have_url(re.compile(rf"/ui/projects/e2e/tasks/{task_id}/runs/[^/?]+$"))
    output = page.get_by_role("log", name="Agent output")
    expect(output).to_contain_text("line 8 of 30")
    # Lines arrive while the run is still going: the view follows a live stream.
    expect(output).not_to_contain_text("line 30 of 30")
    expect(page.locator(".run-view .view-title-row [data-stream-state]")).to_have_attribute(
        "data-stream-state", "live"
    )
    expect(page.locator(".run-view .view-title-row [data-status]").first).to_have_attribute(
        "data-status", "running"
    )
    ui.screenshot("live-output")
    # The run ends: the stream completes, the tab shows output.md, stdout keeps every line.
    stream_state = page.locator(".run-view .view-title-row [data-stream-state]")
    expect(stream_state).to_have_attribute("data-stream-state", "ended", timeout=15_000)
    # output.md is shown rendered as markdown; its source is one click away.
    panel = page.get_by_role("tabpanel")
    rendered = panel.get_by_role("document", name="output.md")
    expect(rendered.get_by_role("heading", name="Counted")).to_be_visible(timeout=15_000)
    expect(rendered.locator("strong")).to_have_text("thirty")
    expect(rendered.locator("code")).to_have_text("done")
    panel.get_by_label("Markdown source").check()
    expect(panel.locator("pre[aria-label='output.md']")).to_contain_text("- **thirty** lines")
    page.get_by_role("tab", name="stdout").click()
    expect(page.get_by_role("log", name="Agent output")).to_contain_text("line 30 of 30")
    assert (ui.root.task_dir("e2e", task_id) / "TASK.md").read_text().startswith("Count to thirty")


def test_second_iteration_and_child_run_appear_in_the_tree_and_keys_walk_it(ui: Ui) -> None:
    created = ui.start_task("e2e", "loop-twice", TWO_ITERATIONS_WITH_A_CHILD)
    ui.start_task(
        "e2e",
        "always-fails",
        "FAKE: error model unavailable\n",
        agent_type="gemini",
        max_restarts=1,
    )
    page = ui.open(f"/ui/projects/e2e/tasks/loop-twice/runs/{created['run_id']}")

    first = tree_row(page, f"r:{created['run_id']}")
    expect(first).to_contain_text("#1")
    second = page.get_by_role("tree").get_by_role("treeitem").filter(has_text="#2")
    expect(second).to_be_visible(timeout=30_000)
    expect(second).to_have_attribute("aria-level", "3")
    expect(tree_row(page, "t:e2e/loop-twice").locator("[data-status]")).to_have_attribute(
        "data-status", "completed", timeout=30_000
    )
    # The first iteration spawned a child run: it opens under it, one level deeper.
    expect(first).to_have_attribute("aria-expanded", "false")

    tree = page.get_by_role("tree")
    tree.focus()
    expect(tree).to_have_attribute("aria-activedescendant", first.get_attribute("id") or "")
    page.keyboard.press("ArrowRight")
    expect(first).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    child = page.get_by_role("tree").locator('[aria-level="4"]')
    expect(child).to_contain_text("codex")
    expect(tree).to_have_attribute("aria-activedescendant", child.get_attribute("id") or "")
    page.keyboard.press("Enter")
    child_id = (child.get_attribute("data-row-id") or "").removeprefix("r:")
    expect(page).to_have_url(re.compile(rf"/runs/{child_id}$"))
    expect(page.locator(".run-view")).to_contain_text("Spawned by")
    page.keyboard.press("ArrowLeft")  # back to the parent row, then close it
    page.keyboard.press("ArrowLeft")
    expect(first).to_have_attribute("aria-expanded", "false")

    expect(tree_row(page, "t:e2e/always-fails").locator("[data-status]")).to_have_attribute(
        "data-status", "failed", timeout=30_000
    )
    tree_row(page, "t:e2e/always-fails").click()
    expect(
        page.get_by_role("tree").get_by_role("treeitem").filter(has_text="gemini")
    ).to_have_count(2)
    tree_row(page, "t:e2e/loop-twice").click()
    page.locator(".iterations").get_by_role("listitem").filter(has_text="#2").click()
    expect(page).to_have_url(re.compile(r"/runs/[^/?]+$"))
    # Every run has ended, and the tree says so (no end missed between reads and events).
    expect(page.get_by_role("tree").locator('[data-status="running"]')).to_have_count(0)
    # Open the first iteration again and show its child run's transcript.
    first.locator(".tree-twisty").click()
    expect(child).to_be_visible()
    child.click()
    page.get_by_role("tab", name="stdout").click()
    expect(page.get_by_role("log", name="Agent output")).to_contain_text("line 2 of 2")
    ui.screenshot("tree")


def test_post_a_message_and_see_it_with_replies_and_agents_messages_live(ui: Ui) -> None:
    ui.start_task("e2e", "chatty", "FAKE: print-lines 2 0.05\nFAKE@2: write-done\n")
    page = ui.open("/ui/projects/e2e/tasks/chatty")
    panel = page.get_by_role("complementary", name="Task message bus")
    expect(panel.get_by_role("status")).to_have_attribute("data-stream-state", "live")
    run_started = panel.get_by_role("article").filter(has_text="started (agent claude)")
    expect(run_started.first).to_be_visible()

    panel.get_by_label("Message", exact=True).fill("Please also update the changelog")
    panel.get_by_role("button", name="Post").click()
    mine = panel.get_by_role("article").filter(has_text="Please also update the changelog")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("USER")
    expect(panel.get_by_label("Message", exact=True)).to_have_value("")

    # Another writer (an agent, through the API) appends to the bus: it shows up live.
    question = ui.api().post(
        "/api/projects/e2e/tasks/chatty/messages",
        json={"type": "QUESTION", "body": "Which changelog format?"},
    )
    assert question.status_code == 201, question.text
    asked = panel.get_by_role("article").filter(has_text="Which changelog format?")
    expect(asked).to_be_visible()

    asked.get_by_role("button", name="Reply").click()
    expect(panel.locator(".composer-reply")).to_contain_text("QUESTION")
    panel.get_by_label("Message", exact=True).fill("Keep a Changelog, please")
    panel.get_by_label("Message", exact=True).press("Control+Enter")
    reply = panel.locator("article.message-reply").filter(has_text="Keep a Changelog, please")
    expect(reply).to_be_visible()
    expect(asked).to_contain_text("1 reply")

    stored = ui.api().get("/api/projects/e2e/tasks/chatty/messages").json()["messages"]
    by_body = {m["body"]: m for m in stored}
    assert by_body["Keep a Changelog, please"]["parents"][0]["msg_id"] == question.json()["msg_id"]
    assert by_body["Please also update the changelog"]["type"] == "USER"

    panel.get_by_label("Filter by type").select_option(label="QUESTION (1)")
    expect(asked).to_be_visible()
    expect(mine).to_have_count(0)
    panel.get_by_label("Filter by type").select_option(label="Without run start/stop")
    expect(run_started).to_have_count(0)
    expect(mine).to_have_count(1)


def test_a_long_bus_pages_back_to_its_first_message(ui: Ui) -> None:
    """The panel starts with the last 1,000 messages; older ones come a page at a time."""
    ui.root.project_dir("longbus").mkdir(parents=True)
    with BusWriter(ui.root.project_bus("longbus")) as writer:
        for i in range(1600):
            writer.append(Message("FACT", "longbus", body=f"fact {i}"))
    page = ui.open("/ui/projects/longbus")
    panel = page.get_by_role("complementary", name="Project message bus")
    types = panel.get_by_label("Filter by type")
    expect(types.locator("option").first).to_have_text("All types (1000)")
    earlier = panel.get_by_role("button", name="Load 500 earlier messages")
    earlier.click()
    expect(types.locator("option").first).to_have_text("All types (1500)")
    earlier.click()
    expect(types.locator("option").first).to_have_text("All types (1600)")
    expect(earlier).to_have_count(0)  # the first message is shown: nothing earlier
    # New messages still arrive live after paging back.
    posted = ui.api().post("/api/projects/longbus/messages", json={"body": "still live"})
    assert posted.status_code == 201, posted.text
    expect(types.locator("option").first).to_have_text("All types (1601)")


def test_stop_a_running_task_from_its_page(ui: Ui) -> None:
    created = ui.start_task("e2e", "runs-forever", "FAKE: print-lines 600 0.1\n")
    page = ui.open("/ui/projects/e2e/tasks/runs-forever")
    header_status = page.locator(".task-view .view-title-row [data-status]")
    expect(header_status).to_have_attribute("data-status", "running")

    page.get_by_role("button", name="Stop task").click()
    dialog = page.get_by_role("dialog", name="Stop task runs-forever?")
    expect(dialog).to_contain_text("does not start another iteration")
    dialog.get_by_role("button", name="Stop task").click()
    expect(dialog).to_have_count(0)

    expect(header_status).to_have_attribute("data-status", "stopped", timeout=20_000)
    expect(tree_row(page, f"r:{created['run_id']}").locator("[data-status]")).to_have_attribute(
        "data-status", "stopped"
    )
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    info = read_run_info(ui.root.run_dir("e2e", "runs-forever", created["run_id"]))
    assert info.status == "stopped"


def test_a_tasks_cost_and_tokens_show_on_its_runs_task_and_project(ui: Ui) -> None:
    # Two iterations, each reported by the (fake) claude CLI as costing $0.0123.
    ui.start_task(
        "costs", "priced", "Cost something\nFAKE: usage 1200 50 1000 0.0123\nFAKE@2: write-done\n"
    )
    page = ui.open("/ui/projects/costs/tasks/priced")
    header_status = page.locator(".task-view .view-title-row [data-status]")
    expect(header_status).to_have_attribute("data-status", "completed", timeout=20_000)
    facts = page.locator(".task-view .facts")
    expect(facts.locator(".usage-cost")).to_have_text("$0.0246")
    expect(facts.locator(".usage-tokens")).to_have_text("2.4k in (2k cached) · 100 out")
    rows = page.get_by_role("list", name="Runs of this task").get_by_role("listitem")
    expect(rows).to_have_count(2)
    expect(rows.first.locator(".usage-cost")).to_have_text("$0.0123")
    ui.screenshot("task-cost")

    rows.first.click()
    run_facts = page.locator(".run-view .facts")
    expect(run_facts.locator(".usage-cost")).to_have_text("$0.0123")
    expect(run_facts.locator(".usage-tokens")).to_have_text("1.2k in (1k cached) · 50 out")

    page.goto(ui.url("/ui/projects/costs"))
    card = page.locator(".project-usage")
    expect(card.locator(".usage-cost")).to_have_text("$0.0246")
    expect(card).to_contain_text("2.4k in (2k cached) · 100 out")


def test_api_errors_are_shown_to_the_user(ui: Ui) -> None:
    ui.start_task("e2e", "taken", "FAKE: write-done\n")
    page = ui.open("/ui/projects/e2e")
    page.get_by_role("button", name="New task").click()
    dialog = page.get_by_role("dialog", name="Start a task")
    expect(dialog.get_by_label("Project")).to_have_value("e2e")
    dialog.get_by_label("Task id").fill("taken")
    dialog.get_by_label("Prompt (TASK.md)").fill("again")
    dialog.get_by_role("button", name="Start task").click()
    error = dialog.get_by_role("alert")
    expect(error).to_contain_text("task e2e/taken already exists")
    expect(error).to_contain_text("HTTP 409")
    dialog.get_by_role("button", name="Cancel").click()

    page.goto(ui.url("/ui/projects/e2e/tasks/no-such-task"))
    expect(page.get_by_role("alert").first).to_contain_text("task e2e/no-such-task not found")


def test_asks_for_the_api_key_and_then_streams_with_it(keyed_ui: Ui) -> None:
    seed_run(keyed_ui.root, "locked", "task-one", stdout="hello\n")
    page = keyed_ui.open()
    dialog = page.get_by_role("dialog", name="API key")
    expect(dialog).to_contain_text("401")
    dialog.get_by_label("Key").fill("e2e-key-1234")
    dialog.get_by_role("button", name="Use key").click()
    expect(dialog).to_have_count(0)
    expect(tree_row(page, "p:locked")).to_be_visible()
    events = page.locator(".topbar [data-stream-state]")
    expect(events).to_have_attribute("data-stream-state", "live")

    # A new browser session on the same profile keeps the key.
    page.reload()
    expect(tree_row(page, "p:locked")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_a_thousand_runs_stay_virtualised_and_reachable_by_keyboard(ui: Ui) -> None:
    for task in range(20):
        previous = ""
        for iteration in range(50):
            run_dir = seed_run(
                ui.root,
                "big",
                f"task-{task:02d}",
                stdout=f"iteration {iteration + 1}\n",
                previous_run_id=previous,
            )
            previous = run_dir.name
    # Written behind the server's back: let its index catch up before looking.
    client = ui.api()
    wait_until(
        lambda: (
            client.get("/api/v1/runs", params={"project_id": "big", "limit": 1}).json()["total"]
            == 1000
        ),
        30,
        "the server to index 1,000 runs",
        interval=0.2,
    )
    # Tasks are listed by latest activity: task-00, seeded first, comes last.
    page = ui.open("/ui/projects/big/tasks/task-00")
    tree = page.get_by_role("tree")
    expect(tree_row(page, "t:big/task-00")).to_have_attribute("aria-expanded", "true")
    expect(tree.get_by_role("treeitem").filter(has_text="#1").first).to_be_visible()
    expect(tree_row(page, "p:big")).to_contain_text("20 tasks")
    rendered = tree.get_by_role("treeitem").count()
    assert rendered < 60, f"{rendered} of 71 rows are in the DOM: the tree is not virtualised"

    tree.focus()
    page.keyboard.press("End")
    last = tree.get_by_role("treeitem").filter(has_text="#50")
    expect(last).to_be_visible()
    expect(tree).to_have_attribute("aria-activedescendant", last.get_attribute("id") or "")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/ui/projects/big/tasks/task-00/runs/[^/?]+$"))
    page.get_by_role("tab", name="stdout").click()
    expect(page.get_by_role("tabpanel")).to_contain_text("iteration 50")
    tree.focus()
    page.keyboard.press("Home")
    expect(tree_row(page, "p:big")).to_be_visible()


def test_a_budget_from_the_form_stops_the_task_and_its_page_says_so(ui: Ui) -> None:
    page = ui.open()
    page.get_by_role("button", name="New task").click()
    dialog = page.get_by_role("dialog", name="Start a task")
    dialog.get_by_label("Project").fill("e2e")
    dialog.get_by_label("Task id").fill("capped")
    # Each run reports $0.25 and never finishes the task: the budget has to end it.
    dialog.get_by_label("Prompt (TASK.md)").fill("Spend money\nFAKE: usage 1000 500 0 0.25\n")
    dialog.get_by_label("Max cost, USD (optional)").fill("-1")
    dialog.get_by_role("button", name="Start task").click()
    expect(dialog).to_contain_text("Max cost must be a number, 0 or more")
    dialog.get_by_label("Max cost, USD (optional)").fill("0.6")
    dialog.get_by_role("button", name="Start task").click()
    expect(page).to_have_url(re.compile(r"/ui/projects/e2e/tasks/capped/runs/[^/?]+$"))

    page.goto(ui.url("/ui/projects/e2e/tasks/capped"))
    title = page.locator(".task-view .view-title-row")
    expect(title.locator("[data-status]")).to_have_attribute(
        "data-status", "stopped", timeout=30_000
    )
    expect(page.get_by_test_id("budget-exceeded")).to_have_text("budget exceeded")
    expect(page.get_by_test_id("budget-cost")).to_have_text("$0.75 of $0.60")
    expect(page.get_by_test_id("stop-reason")).to_have_text("budget exceeded: cost $0.75 of $0.60")
    expect(page.locator(".iterations").get_by_role("listitem")).to_have_count(3)
    ui.screenshot("budget-exceeded")
    assert len(ui.root.run_ids("e2e", "capped")) == 3
