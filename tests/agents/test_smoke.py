"""Each real CLI, started by hand as AGENT-CLIS-HERE.md describes, against its fake model
server: proves the fakes speak each provider's streaming protocol well enough."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.agents.helpers import CLIS, direct_command
from tests.fakes.fake_model_servers import REDACTED, Reply, Usage

pytestmark = pytest.mark.real_agents


@pytest.mark.parametrize("name", list(CLIS))
def test_the_cli_streams_the_scripted_answer_and_runs_the_scripted_command(
    name: str, agent_bin: Path, tmp_path: Path
) -> None:
    cli = CLIS[name]
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    marker = work / "made-by-the-tool-call"
    answer = "The fake model says hello to the real CLI."
    with cli.server(
        Reply.shell(f"touch {marker}", "Making the marker."), Reply.answer(answer, Usage(30, 9))
    ) as server:
        argv, env = direct_command(cli, agent_bin, server, home)
        done = subprocess.run(
            argv,
            input="Make the marker, then say hello.",
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        turns = server.model_requests
    report = f"exit {done.returncode}\nstdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}"
    assert done.returncode == 0, report
    assert marker.exists(), report
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert answer in json.dumps(events) or _joined_deltas(events) == answer, report
    assert len(turns) == 2, [request.path for request in server.requests]
    assert all(request.authorized for request in turns)
    assert "Make the marker, then say hello." in json.dumps(turns[0].body)
    assert cli.tool_outputs(turns[1].body), turns[1].body
    secret_headers = [value for request in server.requests for value in request.headers.values()]
    assert "fake-model-key-4242" not in json.dumps(secret_headers)
    assert REDACTED in secret_headers


def _joined_deltas(events: list[dict[str, object]]) -> str:
    """gemini streams its answer as message deltas; the last ones after the tool are it."""
    text = ""
    for event in events:
        if event.get("type") in ("tool_use", "tool_result"):
            text = ""
        elif event.get("type") == "message" and event.get("role") == "assistant":
            text += str(event.get("content", ""))
    return text
