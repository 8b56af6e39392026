"""The CLI backends read the final answer, error, model and usage from real stdout samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conductor_loop.agents.base import AgentResult, CliBackend
from conductor_loop.agents.registry import backend_for
from tests.support import validate_agent

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "agents"

EXPECTED: dict[str, AgentResult] = {
    "claude_plain": AgentResult(
        final_text="The answer is 42.",
        model="claude-opus-4-8",
        input_tokens=120,
        output_tokens=12,
        cached_input_tokens=0,
        cost_usd=0.0009000000000000001,
    ),
    "claude_tool": AgentResult(
        final_text="The answer is 42.",
        model="claude-opus-4-8",
        input_tokens=240,
        output_tokens=52,
        cached_input_tokens=0,
        cost_usd=0.0025,
    ),
    "codex_plain": AgentResult(
        final_text="The answer is 42.", input_tokens=1500, output_tokens=30, cached_input_tokens=0
    ),
    "codex_tool": AgentResult(
        final_text="The answer is 42.", input_tokens=3000, output_tokens=60, cached_input_tokens=0
    ),
    "codex_warning": AgentResult(
        final_text="The answer is 42.", input_tokens=1500, output_tokens=30, cached_input_tokens=0
    ),
    "codex_error": AgentResult(
        error="The model `gpt-5.5` does not exist or you do not have access to it."
    ),
    "gemini_plain": AgentResult(
        final_text="The answer is 42.",
        model="gemini-2.5-flash",
        input_tokens=800,
        output_tokens=6,
        cached_input_tokens=0,
    ),
    "gemini_tool": AgentResult(
        final_text="The answer is 42.",
        model="gemini-2.5-flash",
        input_tokens=1700,
        output_tokens=26,
        cached_input_tokens=0,
    ),
}


def _backend(agent_type: str, **settings: object) -> CliBackend:
    backend = backend_for(agent_type, validate_agent({"type": agent_type, **settings}))
    assert isinstance(backend, CliBackend)
    return backend


def _parse(name: str) -> AgentResult:
    agent_type = name.split("_", 1)[0]
    return _backend(agent_type).parse_stdout((FIXTURES / f"{name}.jsonl").read_text("utf-8"))


def test_every_fixture_has_an_expectation() -> None:
    names = {path.stem for path in FIXTURES.glob("*.jsonl")}
    assert names == set(EXPECTED) | {"claude_error", "gemini_error"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_expected_result(name: str) -> None:
    assert _parse(name) == EXPECTED[name]


def test_claude_error_result_names_the_api_error() -> None:
    result = _parse("claude_error")
    assert result.error is not None
    assert result.error.startswith("Prompt is too long")
    assert result.final_text == result.error
    assert result.model == "claude-opus-4-8[1m]"  # the synthetic message's model is skipped


def test_gemini_error_result_carries_the_api_message() -> None:
    result = _parse("gemini_error")
    assert result.final_text is None
    assert result.error is not None
    assert "API key not valid" in result.error
    assert result.model == "gemini-2.5-flash"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_junk_lines_around_events_are_skipped(name: str) -> None:
    agent_type = name.split("_", 1)[0]
    lines = (FIXTURES / f"{name}.jsonl").read_text("utf-8").splitlines()
    noisy = ["Warning: something on stdout", "", "[1, 2]", "{not json"]
    for line in lines:
        noisy += [line, "   ", "npm notice: update available"]
    noisy.append('{"type": "result", "trunc')  # a line cut off by a kill
    assert _backend(agent_type).parse_stdout("\n".join(noisy)) == EXPECTED[name]


@pytest.mark.parametrize("agent_type", ["claude", "codex", "gemini"])
def test_empty_stdout_yields_no_answer(agent_type: str) -> None:
    assert _backend(agent_type).parse_stdout("") == AgentResult()


@pytest.mark.parametrize("agent_type", ["claude", "codex", "gemini"])
def test_configured_model_fills_in_when_the_stream_names_none(agent_type: str) -> None:
    assert _backend(agent_type, model="m-1").parse_stdout("").model == "m-1"


def _jsonl(*events: dict[str, object]) -> str:
    return "\n".join(json.dumps(event) for event in events) + "\n"


def _claude_assistant(text: str, parent: str | None = None) -> dict[str, object]:
    return {
        "type": "assistant",
        "message": {"model": "claude-x", "content": [{"type": "text", "text": text}]},
        "parent_tool_use_id": parent,
    }


def test_claude_without_result_falls_back_to_last_top_level_assistant_text() -> None:
    stdout = _jsonl(
        {"type": "system", "subtype": "init", "model": "claude-x"},
        _claude_assistant("first"),
        _claude_assistant("the last words"),
        _claude_assistant("sub-agent chatter", parent="toolu_1"),
    )
    result = _backend("claude").parse_stdout(stdout)
    assert result.final_text == "the last words"
    assert result.error is None


def test_claude_error_subtype_without_is_error_is_an_error() -> None:
    stdout = _jsonl({"type": "result", "subtype": "error_max_turns", "is_error": False})
    result = _backend("claude").parse_stdout(stdout)
    assert result.error == "claude reported error_max_turns"


def test_claude_counts_cache_tokens_as_input() -> None:
    usage = {
        "input_tokens": 3,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 1000,
        "output_tokens": 7,
    }
    stdout = _jsonl({"type": "result", "subtype": "success", "result": "ok", "usage": usage})
    result = _backend("claude").parse_stdout(stdout)
    assert (result.input_tokens, result.output_tokens, result.cached_input_tokens) == (
        1103,
        7,
        1000,
    )


def test_claude_usage_covers_every_request_the_cost_covers() -> None:
    # claude makes a second request (a session title, on a small model): the result's
    # ``usage`` counts the answer only, ``modelUsage`` and ``total_cost_usd`` both.
    result_event = {
        "type": "result",
        "subtype": "success",
        "result": "ok",
        "total_cost_usd": 0.0102,
        "usage": {
            "input_tokens": 10,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 2000,
            "output_tokens": 5,
        },
        "modelUsage": {
            "claude-haiku-4-5": {
                "inputTokens": 300,
                "outputTokens": 12,
                "cacheReadInputTokens": 0,
                "cacheCreationInputTokens": 0,
                "costUSD": 0.0002,
            },
            "claude-opus-4-8": {
                "inputTokens": 10,
                "outputTokens": 5,
                "cacheReadInputTokens": 2000,
                "cacheCreationInputTokens": 40,
                "costUSD": 0.01,
            },
        },
    }
    result = _backend("claude").parse_stdout(_jsonl(result_event))
    assert (result.input_tokens, result.output_tokens) == (2350, 17)
    assert (result.cached_input_tokens, result.cost_usd) == (2000, 0.0102)


def test_claude_without_model_usage_reads_the_result_usage() -> None:
    usage = {"input_tokens": 4, "output_tokens": 2}
    stdout = _jsonl({"type": "result", "result": "ok", "usage": usage, "modelUsage": {}})
    result = _backend("claude").parse_stdout(stdout)
    assert (result.input_tokens, result.output_tokens, result.cached_input_tokens) == (4, 2, None)
    assert result.cost_usd is None


def test_codex_reads_cached_input_tokens_summed_over_turns() -> None:
    stdout = _jsonl(
        {"type": "turn.completed", "usage": {"input_tokens": 100, "cached_input_tokens": 60}},
        {"type": "turn.completed", "usage": {"input_tokens": 50, "cached_input_tokens": 40}},
    )
    result = _backend("codex").parse_stdout(stdout)
    assert (result.input_tokens, result.cached_input_tokens, result.output_tokens) == (
        150,
        100,
        None,
    )


def test_gemini_reads_cached_tokens_from_the_result_stats() -> None:
    stats = {"input_tokens": 900, "output_tokens": 9, "cached": 600, "input": 300}
    stdout = _jsonl({"type": "result", "status": "success", "stats": stats})
    result = _backend("gemini").parse_stdout(stdout)
    assert (result.input_tokens, result.output_tokens, result.cached_input_tokens) == (900, 9, 600)


def test_codex_stream_errors_before_a_failed_turn_report_the_failure() -> None:
    stdout = _jsonl(
        {"type": "thread.started", "thread_id": "t"},
        {"type": "error", "message": "Reconnecting... 1/5"},
        {"type": "turn.failed", "error": {"message": "stream disconnected"}},
    )
    assert _backend("codex").parse_stdout(stdout).error == "stream disconnected"


def test_codex_reconnect_warnings_do_not_fail_a_completed_turn() -> None:
    stdout = _jsonl(
        {"type": "error", "message": "Reconnecting... 1/5"},
        {"type": "item.completed", "item": {"type": "agent_message", "text": "done"}},
        {"type": "turn.completed", "usage": {"input_tokens": 1, "output_tokens": 2}},
    )
    result = _backend("codex").parse_stdout(stdout)
    assert (result.final_text, result.error) == ("done", None)


def test_codex_error_item_without_answer_is_the_error() -> None:
    stdout = _jsonl({"type": "item.completed", "item": {"type": "error", "message": "boom"}})
    assert _backend("codex").parse_stdout(stdout).error == "boom"


def test_codex_answer_is_the_last_agent_message() -> None:
    stdout = _jsonl(
        {"type": "item.completed", "item": {"type": "agent_message", "text": "working on it"}},
        {"type": "item.completed", "item": {"type": "reasoning", "text": "hmm"}},
        {"type": "item.completed", "item": {"type": "agent_message", "text": "final"}},
    )
    assert _backend("codex").parse_stdout(stdout).final_text == "final"


def _gemini_text(text: str) -> dict[str, object]:
    return {"type": "message", "role": "assistant", "content": text, "delta": True}


def test_gemini_answer_ignores_narration_before_the_last_tool() -> None:
    stdout = _jsonl(
        {"type": "message", "role": "user", "content": "do it"},
        _gemini_text("Let me "),
        _gemini_text("check."),
        {"type": "tool_use", "tool_name": "run_shell_command", "tool_id": "1"},
        {"type": "tool_result", "tool_id": "1", "status": "success", "output": "x"},
        _gemini_text("All "),
        _gemini_text("done."),
        {"type": "result", "status": "success", "stats": {"input_tokens": 5, "output_tokens": 2}},
    )
    assert _backend("gemini").parse_stdout(stdout).final_text == "All done."


def test_gemini_run_ending_on_a_tool_keeps_all_assistant_text() -> None:
    stdout = _jsonl(
        _gemini_text("Creating the file."),
        {"type": "tool_use", "tool_name": "run_shell_command", "tool_id": "1"},
        {"type": "tool_result", "tool_id": "1", "status": "success", "output": ""},
    )
    assert _backend("gemini").parse_stdout(stdout).final_text == "Creating the file."


def test_gemini_error_event_without_result_is_the_error() -> None:
    stdout = _jsonl(
        {"type": "error", "severity": "warning", "message": "loop detected"},
        {"type": "error", "severity": "error", "message": "quota exhausted"},
    )
    assert _backend("gemini").parse_stdout(stdout).error == "quota exhausted"


def test_parse_stdout_file_tolerates_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "agent-stdout.txt"
    path.write_bytes(b"\xff\xfe garbage\n" + (FIXTURES / "codex_plain.jsonl").read_bytes())
    assert _backend("codex").parse_stdout_file(path) == EXPECTED["codex_plain"]


def test_parse_stdout_file_missing_file_is_no_answer(tmp_path: Path) -> None:
    assert _backend("claude").parse_stdout_file(tmp_path / "absent.txt") == AgentResult()
