"""``conductor_loop.client`` against real servers on 127.0.0.1: typed results and
exceptions, event streams (with resume and multi-line data), the local key fallback."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from conductor_loop.api import models as api_models
from conductor_loop.api.access import API_KEY_FILE
from conductor_loop.client import (
    ApiError,
    AuthenticationError,
    ConductorClient,
    ConductorClientError,
    ConflictError,
    ConnectionFailedError,
    ForbiddenError,
    LogLine,
    NotFoundError,
    ProtocolError,
    RunDone,
    RunStatusChanged,
    ServerError,
    ValidationError,
    local_generated_key,
    models,
)
from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import ServerFactory, ServerProcess, seed_run, server_env
from tests.fakes.sse import BackgroundServer, SseHandler
from tests.support import wait_until

# -- the shapes agree with the server's ---------------------------------------------------

PAIRS = [
    (getattr(models, name), getattr(api_models, name))
    for name in [
        "Health",
        "Version",
        "TaskRef",
        "ServerStatus",
        "RunUsage",
        "UsageTotal",
        "RunSummary",
        "RunDetail",
        "RunList",
        "RunFile",
        "StopAccepted",
        "TaskCreated",
        "TaskSummary",
        "TaskBudget",
        "TaskDetail",
        "TaskList",
        "TaskFile",
        "TaskAction",
        "ProjectSummary",
        "ProjectList",
        "ProjectStats",
        "MessageParent",
        "MessageLink",
        "MessageList",
    ]
] + [(models.Message, api_models.MessageOut)]


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_each_result_class_has_the_fields_of_the_api_model(
    ours: type[Any], theirs: type[BaseModel]
) -> None:
    assert [f.name for f in dataclasses.fields(ours)] == list(theirs.model_fields)


def test_the_client_imports_neither_the_server_stack_nor_pydantic() -> None:
    code = (
        "import sys, conductor_loop.client;"
        "print([m for m in ('fastapi', 'starlette', 'uvicorn', 'pydantic') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- typed results and exceptions from the real server ------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    from tests.api.helpers import start_server, write_config

    tmp = tmp_path_factory.mktemp("client")
    root = RunsRoot.at(tmp / "runs")
    root.path.mkdir()
    seed_run(root, "alpha", "done-task", stdout="one\ntwo\n", run_id="run-done")
    seed_run(root, "alpha", "live", status="running", stdout="x\n", run_id="run-live")
    secret = tmp / "secret.txt"
    secret.write_text("outside the root\n", encoding="utf-8")
    seed_run(root, "alpha", "linked", run_id="run-linked")
    (root.task_dir("alpha", "linked") / "TASK.md").unlink()
    (root.task_dir("alpha", "linked") / "TASK.md").symlink_to(secret)
    started = start_server(root, write_config(tmp / "config.yaml"), tmp / "server.log")
    yield started
    started.stop()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[ConductorClient]:
    with ConductorClient(server.url, local_key=False) as client:
        yield client


def test_reads_return_typed_results(api: ConductorClient) -> None:
    assert api.health().status == "ok"
    status = api.status()
    assert status.active_runs == 1
    assert [(t.task_id, t.run_id) for t in status.running_tasks] == [("live", "run-live")]
    projects = api.projects().projects
    assert [(p.project_id, p.task_count) for p in projects] == [("alpha", 3)]
    task = api.task("done-task", "alpha")
    assert task.status == "completed"
    assert [r.run_id for r in task.runs] == ["run-done"]
    assert task.usage.runs == 0
    assert api.task("done-task").task_dir == task.task_dir  # unique: no project needed
    assert {r.run_id for r in api.runs(project_id="alpha").runs} == {
        "run-done",
        "run-live",
        "run-linked",
    }
    assert api.run("run-done").files["agent-stdout.txt"] == len("one\ntwo\n")
    stdout = api.run_file("alpha", "done-task", "run-done", "stdout")
    assert (stdout.content, stdout.truncated) == ("one\ntwo\n", False)
    assert api.task_file("alpha", "done-task").content == "seeded task\n"


def test_messages_post_and_read(api: ConductorClient) -> None:
    posted = api.post_message("alpha", "two\nlines", task_id="done-task", type="NOTE")
    assert (posted.type, posted.task_id, posted.body) == ("NOTE", "done-task", "two\nlines")
    listed = api.messages("alpha", "done-task").messages
    assert [m.msg_id for m in listed][-1] == posted.msg_id


def test_not_found(api: ConductorClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        api.task("nope", "alpha")
    error = caught.value
    assert (error.status, error.code) == (404, "not_found")
    assert error.message == "task alpha/nope not found"
    assert str(error) == "task alpha/nope not found (HTTP 404)"


def test_conflict(api: ConductorClient) -> None:
    with pytest.raises(ConflictError) as caught:
        api.submit_task("alpha", "again", task_id="done-task")
    assert (caught.value.status, caught.value.code) == (409, "conflict")
    assert "already exists" in caught.value.message
    with pytest.raises(ConflictError, match="is running"):
        api.delete_task("alpha", "live")


def test_validation_400_and_422(api: ConductorClient) -> None:
    with pytest.raises(ValidationError) as bad_id:
        api.submit_task(".hidden", "x")
    assert (bad_id.value.status, bad_id.value.code) == (400, "invalid_id")
    with pytest.raises(ValidationError) as bad_body:
        api.submit_task("alpha", "x", max_restarts=-1)
    assert (bad_body.value.status, bad_body.value.code) == (422, "validation_error")
    assert "max_restarts" in bad_body.value.message


def test_forbidden(api: ConductorClient) -> None:
    with pytest.raises(ForbiddenError) as caught:
        api.task_file("alpha", "linked")
    assert (caught.value.status, caught.value.code) == (403, "path_outside_root")
    assert "outside the root" not in str(caught.value)


def test_connection_failure() -> None:
    with pytest.raises(ConnectionFailedError) as caught:
        ConductorClient("http://127.0.0.1:9", local_key=False).status()
    assert caught.value.status is None
    assert "cannot reach the server at http://127.0.0.1:9" in str(caught.value)
    hidden = ConductorClient("http://me:pass-SECRET@127.0.0.1:9", local_key=False)
    with pytest.raises(ConnectionFailedError) as caught:
        hidden.status()
    assert "SECRET" not in str(caught.value) + repr(hidden)
    assert "http://127.0.0.1:9" in str(caught.value)


def test_a_server_url_that_is_not_http_is_refused_naming_it() -> None:
    for url in ("localhost:14355", "ftp://127.0.0.1", "http://[::bad", "http://"):
        with pytest.raises(ConductorClientError, match="invalid server URL") as caught:
            ConductorClient(url)
        assert repr(url) in str(caught.value)


def test_stream_run_yields_typed_events_and_ends_with_done(api: ConductorClient) -> None:
    events = list(api.stream_run("run-done"))
    assert events[:2] == [
        LogLine(stream="stdout", line="one", event_id="4-0"),
        LogLine(stream="stdout", line="two", event_id="8-0"),
    ]
    assert isinstance(events[2], RunStatusChanged) and events[2].status == "completed"
    assert events[3:] == [
        RunDone(run_id="run-done", status="completed", exit_code=0, event_id="8-0")
    ]
    resumed = list(api.stream_run("run-done", last_event_id="4-0"))
    assert [e.line for e in resumed if isinstance(e, LogLine)] == ["two"]


def test_stream_runs_starts_with_the_running_ones(api: ConductorClient) -> None:
    for summary in api.stream_runs():
        assert isinstance(summary, models.RunSummary)
        assert (summary.run_id, summary.status) == ("run-live", "running")
        break


def test_run_info_is_the_stored_yaml(api: ConductorClient, server: ServerProcess) -> None:
    stored = server.root.run_dir("alpha", "done-task", "run-done") / "run-info.yaml"
    assert api.run_info("run-done") == stored.read_text(encoding="utf-8")


def test_stream_of_an_unknown_run_is_not_found(api: ConductorClient) -> None:
    with pytest.raises(NotFoundError):
        list(api.stream_run("no-such-run"))


# -- replies our server does not send: a scripted one -------------------------------------


class _Scripted(SseHandler):
    def do_GET(self) -> None:
        fake: Scripted = self.server.fake
        fake.seen(self.path, self.headers.get("Last-Event-ID"))
        if self.path.startswith("/status/"):
            status = int(self.path.rsplit("/", 1)[1])
            self.send_json(status, {"error": {"code": f"code_{status}", "message": "scripted"}})
        elif self.path == "/api/v1/status":
            body = b"<html>not the API</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.startswith("/api/projects/p/messages/stream"):
            self.start_sse()
            if self.headers.get("Last-Event-ID") is None:
                self.write_chunk(b"retry: 10\n\n")
                self._message("MSG-1", "first\nbody", multiline=True)
                self.drop()  # the connection breaks: the client must resume after MSG-1
                return
            self._message("MSG-2", "second", multiline=False)
            self.end_chunks()
        else:
            self.send_json(404, {"error": {"code": "not_found", "message": "no route"}})

    def _message(self, msg_id: str, body: str, *, multiline: bool) -> None:
        payload = {
            "msg_id": msg_id,
            "ts": "2026-01-01T00:00:00Z",
            "type": "USER",
            "project_id": "p",
            "task_id": "",
            "run_id": "",
            "parents": [],
            "links": [],
            "meta": {},
            "body": body,
        }
        text = json.dumps(payload, indent=1) if multiline else json.dumps(payload)
        data = "".join(f"data: {line}\n" for line in text.split("\n"))
        self.write_chunk(f"id: {msg_id}\nevent: message\n{data}\n".encode())


class Scripted(BackgroundServer):
    def __init__(self) -> None:
        super().__init__(_Scripted)
        self.requests: list[tuple[str, str | None]] = []

    def seen(self, path: str, last_event_id: str | None) -> None:
        with self._lock:
            self.requests.append((path, last_event_id))


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    with Scripted() as fake:
        yield fake


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, AuthenticationError), (413, ApiError), (500, ServerError), (507, ServerError)],
)
def test_other_statuses(scripted: Scripted, status: int, kind: type[ApiError]) -> None:
    with pytest.raises(kind) as caught:
        ConductorClient(scripted.url, local_key=False).request("GET", f"/status/{status}")
    assert type(caught.value) is kind
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        status,
        f"code_{status}",
        "scripted",
    )


def test_a_reply_that_is_not_the_api_is_a_protocol_error(scripted: Scripted) -> None:
    api = ConductorClient(scripted.url, local_key=False)
    with pytest.raises(ProtocolError, match="unexpected reply"):
        api.status()
    with pytest.raises(ProtocolError, match="not an event stream"):
        list(api.events("/api/v1/status"))


def test_multi_line_data_and_resume_after_a_broken_stream(scripted: Scripted) -> None:
    api = ConductorClient(scripted.url, local_key=False)
    messages = list(api.stream_messages("p"))
    assert [(m.msg_id, m.body) for m in messages] == [("MSG-1", "first\nbody"), ("MSG-2", "second")]
    assert [last for _, last in scripted.requests] == [None, "MSG-1"]


def test_a_broken_stream_without_reconnect_raises(scripted: Scripted) -> None:
    api = ConductorClient(scripted.url, local_key=False)
    received = []
    with pytest.raises(ConnectionFailedError, match="broke"):
        for message in api.stream_messages("p", reconnect=False):
            received.append(message.msg_id)
    assert received == ["MSG-1"]


# -- the key a local server generated -----------------------------------------------------


def test_the_generated_key_is_used_for_a_loopback_url_only(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    keyed = server_factory(host="0.0.0.0", env=server_env(CONDUCTOR_STATE_DIR=str(state_dir)))
    key = (state_dir / API_KEY_FILE).read_text(encoding="utf-8").strip()

    assert ConductorClient(keyed.url, state_dir=state_dir).status().status == "ok"
    with pytest.raises(AuthenticationError) as caught:
        ConductorClient(keyed.url, local_key=False).status()
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    with pytest.raises(AuthenticationError):
        ConductorClient(keyed.url, "a-wrong-key", state_dir=state_dir).status()
    assert ConductorClient(keyed.url, key, local_key=False).status().status == "ok"

    port = keyed.url.rsplit(":", 1)[1]
    assert local_generated_key(f"http://localhost:{port}", state_dir) == key
    assert local_generated_key(f"http://[::1]:{port}", state_dir) == key
    for other in ("http://example.com", "http://10.1.2.3:14355", "https://conductor.internal"):
        assert local_generated_key(other, state_dir) is None, other
    assert local_generated_key(keyed.url, tmp_path / "no-state") is None


def test_leaving_a_stream_early_closes_its_connection(api: ConductorClient) -> None:
    for event in api.stream_run("run-live"):  # running: the server would keep it open
        assert isinstance(event, LogLine)
        assert api.status().sse_clients == 1
        break
    wait_until(lambda: api.status().sse_clients == 0, 5, "the stream to be closed")


# -- the README's example -----------------------------------------------------------------


def test_the_readme_example_runs(server_factory: ServerFactory, tmp_path: Path) -> None:
    from tests.api.test_tasks import agent_config

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Python client", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    server = server_factory(agent_config(tmp_path / "bin"), root=RunsRoot.at(tmp_path / "runs"))
    assert "http://127.0.0.1:14355" in code
    done = subprocess.run(
        [sys.executable, "-c", code.replace("http://127.0.0.1:14355", server.url)],
        env=server_env(CONDUCTOR_STATE_DIR=str(tmp_path / "state")),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("stdout {") for line in lines), lines  # the agent's JSON
    assert "exit code 0" in lines
    assert "OK from fake claude" in lines
    assert lines[-1] == "404 not_found task demo/no-such-task not found"
