"""The real CLIs through ``run-agent`` with the minimal config (type, token file, base URL,
model, and the installed binary as ``command``), each against its scripted fake model:
the runner maps those settings to what each CLI needs, runs it, and records the result."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conductor_loop.bus.reader import read_all
from tests.agents.helpers import CLIS, AgentRig, describe
from tests.fakes.fake_model_servers import Reply, Usage

pytestmark = pytest.mark.real_agents
NAMES = list(CLIS)
# How each CLI words a rejected key: claude "Failed to authenticate", codex "401
# Unauthorized", gemini "UNAUTHENTICATED". The scripted message says none of these.
AUTH_WORDS = re.compile(r"authenticat|unauthori[sz]ed", re.IGNORECASE)
REJECTED_KEY = "the key is not valid"


@pytest.mark.parametrize("name", NAMES)
def test_a_job_records_the_scripted_answer_and_the_cli_version(rig: AgentRig, name: str) -> None:
    cli = CLIS[name]
    answer = "Forty-two is the answer the fake model gave."
    usage = Usage(input_tokens=120, output_tokens=17, cached_input_tokens=100)
    with cli.server(Reply.answer(answer, usage)) as server:
        rig.write_config(cli, server)
        done = rig.run("job", "--project", "p", "--task", "t", "--prompt", "What is it?")
        turns = server.model_requests
        reported = server.reported_usage
    [info] = rig.runs("p", "t")
    report = describe(done, [info])
    assert done.returncode == 0, report
    assert info.status == "completed" and info.exit_code == 0, report
    assert Path(info.output_path).read_text(encoding="utf-8") == answer + "\n", report
    assert info.agent_version, report
    assert reported == usage, report  # no side request (the backend turns them off)
    assert info.usage is not None, report
    recorded = (info.usage.input_tokens, info.usage.output_tokens, info.usage.cached_input_tokens)
    assert recorded == (120, 17, 100), report
    # claude prices the run itself (sonnet 4.5: $3 per million input tokens, $0.30 cached,
    # $15 output); the others report no cost, and this config has no pricing.
    expected_cost = (20 * 3 + 100 * 0.3 + 17 * 15) / 1e6 if name == "claude" else None
    assert info.usage.cost_usd == pytest.approx(expected_cost), report
    assert len(turns) == 1 and turns[0].authorized, report
    assert "What is it?" in str(turns[0].body)


@pytest.mark.parametrize("name", NAMES)
def test_a_two_run_loop_ends_when_the_second_run_makes_done_through_a_tool_call(
    rig: AgentRig, name: str
) -> None:
    cli = CLIS[name]
    replies = [
        Reply.answer("Not finished yet."),
        Reply.shell('touch "$JRUN_TASK_FOLDER/DONE"', "Marking the task done."),
        Reply.answer("The task is done."),
    ]
    with cli.server(*replies) as server:
        rig.write_config(cli, server)
        done = rig.run(
            "task", "--project", "p", "--task", "loop", "--prompt", "Finish the task.",
            "--max-restarts", "3", "--timeout", "60s",
        )  # fmt: skip
        turns = server.model_requests
    runs = rig.runs("p", "loop")
    report = describe(done, runs)
    assert done.returncode == 0, report
    assert (rig.root.task_dir("p", "loop") / "DONE").exists(), report
    assert [info.status for info in runs] == ["completed", "completed"], report
    assert Path(runs[1].output_path).read_text(encoding="utf-8") == "The task is done.\n", report
    assert len(turns) == 3, report
    assert not cli.tool_outputs(turns[1].body) and cli.tool_outputs(turns[2].body), report


@pytest.mark.parametrize("name", NAMES)
def test_a_rejected_key_fails_the_run_with_an_error_naming_authentication(
    rig: AgentRig, name: str
) -> None:
    cli = CLIS[name]
    # claude retries a 401 about ten times over ~3 minutes; its own setting bounds that.
    env = {"CLAUDE_CODE_MAX_RETRIES": "0"} if name == "claude" else None
    with cli.server(default=Reply.error(401, REJECTED_KEY)) as server:
        rig.write_config(cli, server, env=env)
        done = rig.run("job", "--project", "p", "--task", "t", "--prompt", "Hello?")
    [info] = rig.runs("p", "t")
    report = describe(done, [info])
    assert done.returncode != 0, report
    assert info.status == "failed" and info.exit_code != 0, report
    assert AUTH_WORDS.search(info.error_summary), report


@pytest.mark.parametrize("name", NAMES)
def test_a_server_error_is_retried_by_the_cli_and_the_run_completes(
    rig: AgentRig, name: str
) -> None:
    cli = CLIS[name]
    with cli.server(Reply.error(500, "overloaded"), Reply.answer("Answered on retry.")) as server:
        rig.write_config(cli, server)
        done = rig.run("job", "--project", "p", "--task", "t", "--prompt", "Hello?")
        turns = server.model_requests
    [info] = rig.runs("p", "t")
    report = describe(done, [info])
    assert done.returncode == 0 and info.status == "completed", report
    assert Path(info.output_path).read_text(encoding="utf-8") == "Answered on retry.\n", report
    assert len(turns) == 2, report


@pytest.mark.parametrize("name", NAMES)
def test_a_stalled_model_fails_the_run_with_a_nonzero_exit_code_at_the_timeout(
    rig: AgentRig, name: str
) -> None:
    cli = CLIS[name]
    with cli.server(default=Reply.stalled()) as server:
        rig.write_config(cli, server)
        timeout = cli.stall_timeout
        done = rig.run(
            "job", "--project", "p", "--task", "t", "--prompt", "Hi", "--timeout", timeout
        )
        assert server.model_requests, describe(done, rig.runs("p", "t"))
    [info] = rig.runs("p", "t")
    report = describe(done, [info])
    assert done.returncode != 0, report
    assert info.status == "failed" and info.exit_code != 0, report
    assert "timeout" in info.error_summary.lower() or "timed out" in info.error_summary.lower(), (
        report
    )


@pytest.mark.parametrize("name", NAMES)
def test_a_loop_stops_after_the_run_that_crosses_its_token_budget(rig: AgentRig, name: str) -> None:
    """Each run reports 600 + 100 tokens; a 1,000-token budget lets the first run end
    under it and the second cross it: no third run, one BUDGET_EXCEEDED on the bus."""
    cli = CLIS[name]
    spend = Usage(input_tokens=600, output_tokens=100)
    replies = [Reply.answer(f"Still working ({i}).", spend) for i in (1, 2, 3)]
    with cli.server(*replies) as server:
        rig.write_config(cli, server)
        done = rig.run(
            "task", "--project", "p", "--task", "budget", "--prompt", "Keep going.",
            "--max-restarts", "5", "--max-tokens", "1000", "--timeout", "60s",
        )  # fmt: skip
        turns = server.model_requests
    runs = rig.runs("p", "budget")
    report = describe(done, runs)
    assert done.returncode == 3, report  # stopped by its budget
    assert [info.status for info in runs] == ["completed", "completed"], report
    assert len(turns) == 2, report
    assert not (rig.root.task_dir("p", "budget") / "DONE").exists(), report
    exceeded = [
        m for m in read_all(rig.root.task_bus("p", "budget")) if m.type == "BUDGET_EXCEEDED"
    ]
    assert len(exceeded) == 1, report
    assert float(exceeded[0].meta["spent_tokens"]) == 1400, exceeded[0].meta
    assert float(exceeded[0].meta["max_tokens"]) == 1000, exceeded[0].meta
