"""The REST backends against a local fake chat-completions server: streaming, retries,
fail-fast authentication errors, cancel, timeout, and the token kept out of every file."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from conductor_loop.agents import openai_chat
from conductor_loop.agents.base import AgentResult, RunContext
from conductor_loop.agents.openai_chat import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TIMEOUT,
    OpenAIChatBackend,
    RetryPolicy,
)
from conductor_loop.agents.registry import backend_for
from conductor_loop.config.models import AgentConfig
from tests.fakes.fake_openai_server import FakeOpenAIServer, Reply
from tests.support import validate_agent

TOKEN = "xai-secret-token-7f3a9c"
PROMPT = "JRUN_TASK_FOLDER=/tmp/x\nSay hello.\n"
FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)

Outcome = tuple[int, AgentResult]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "prompt.md").write_text(PROMPT, encoding="utf-8")
    return run_dir


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays of the asyncio sleeps that ran to the end (the backend's retry waits)."""
    done: list[float] = []
    real_sleep = asyncio.sleep

    async def recorded(delay: float, result: object = None) -> object:
        await real_sleep(delay)
        done.append(delay)
        return result

    monkeypatch.setattr(asyncio, "sleep", recorded)  # the module openai_chat sleeps with
    return done


def _ctx(run_dir: Path, timeout: float | None = None) -> RunContext:
    return RunContext(
        run_id="20260101-0000000000-1-1",
        project_id="p",
        task_id="t",
        run_dir=run_dir,
        task_dir=run_dir.parent,
        cwd=run_dir,
        prompt_path=run_dir / "prompt.md",
        stdout_path=run_dir / "agent-stdout.txt",
        stderr_path=run_dir / "agent-stderr.txt",
        output_path=run_dir / "output.md",
        timeout=timeout,
    )


def _backend(
    server: FakeOpenAIServer,
    agent_type: str = "xai",
    policy: RetryPolicy = FAST,
    **settings: object,
) -> OpenAIChatBackend:
    config = validate_agent({"type": agent_type, "base_url": server.base_url, **settings})
    backend = backend_for(f"my-{agent_type}", config)
    assert isinstance(backend, OpenAIChatBackend)
    backend.retry = policy
    return backend


def _run(
    backend: OpenAIChatBackend, run_dir: Path, timeout: float | None = None, token: str = TOKEN
) -> Outcome:
    return backend.run(_ctx(run_dir, timeout), token, threading.Event())


def _start(
    backend: OpenAIChatBackend, run_dir: Path, cancel: threading.Event, timeout: float | None = None
) -> tuple[ThreadPoolExecutor, Future[Outcome]]:
    pool = ThreadPoolExecutor(max_workers=1)
    return pool, pool.submit(backend.run, _ctx(run_dir, timeout), TOKEN, cancel)


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _files(run_dir: Path) -> dict[str, str]:
    return {
        name: _read(run_dir / name)
        for name in ("agent-stdout.txt", "agent-stderr.txt", "output.md")
    }


def test_streams_the_answer_to_stdout_and_output(server: FakeOpenAIServer, run_dir: Path) -> None:
    code, result = _run(_backend(server), run_dir)
    assert code == EXIT_OK
    assert result == AgentResult(
        final_text="Hello from the fake server.",
        model="fake-model",
        input_tokens=11,
        output_tokens=3,
        cached_input_tokens=4,
    )
    assert _read(run_dir / "output.md") == "Hello from the fake server."
    assert _read(run_dir / "agent-stdout.txt") == "Hello from the fake server.\n"
    assert _read(run_dir / "agent-stderr.txt") == ""
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.body == {
        "model": "grok-2",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
    }


def test_an_event_whose_data_spans_several_lines_is_one_chunk(
    server: FakeOpenAIServer, run_dir: Path
) -> None:
    """The SSE format lets a server split an event's data over several ``data:`` lines,
    joined with newlines (here: indented JSON); each event is still one chunk."""
    server.enqueue(Reply.stream("Hel", "lo", multiline=True))
    code, result = _run(_backend(server), run_dir)
    assert code == EXIT_OK, _read(run_dir / "agent-stderr.txt")
    assert (result.final_text, result.input_tokens, result.output_tokens) == ("Hello", 11, 2)
    assert _read(run_dir / "agent-stdout.txt") == "Hello\n"
    assert server.request_count() == 1


def test_a_reply_that_is_not_an_event_stream_fails_at_once(
    server: FakeOpenAIServer, run_dir: Path
) -> None:
    server.enqueue(Reply.stream("Hi", content_type="application/json"))
    code, result = _run(_backend(server), run_dir)
    assert code == EXIT_FAILED
    assert "not an event stream" in (result.error or "")
    assert server.request_count() == 1


def test_configured_model_is_requested(server: FakeOpenAIServer, run_dir: Path) -> None:
    code, _ = _run(_backend(server, model="grok-3-mini"), run_dir)
    assert code == EXIT_OK
    assert server.requests[0].body["model"] == "grok-3-mini"


def test_perplexity_defaults_and_answer_cleanup(server: FakeOpenAIServer, run_dir: Path) -> None:
    server.enqueue(
        Reply.stream(
            "<think>",
            "checking sources",
            "</think>\n\n",
            "Paris [1].",
            extra={"citations": ["https://example.org/paris"]},
        )
    )
    backend = _backend(server, "perplexity", base_url=server.url)
    code, result = _run(backend, run_dir)
    assert code == EXIT_OK
    assert server.requests[0].path == "/chat/completions"
    assert server.requests[0].body["model"] == "sonar-reasoning"
    assert "<think>checking sources</think>" in _read(run_dir / "agent-stdout.txt")
    expected = "Paris [1].\n\nSources:\n[1] https://example.org/paris\n"
    assert _read(run_dir / "output.md") == expected
    assert result.final_text == expected


def test_tokens_reach_stdout_before_the_response_ends(
    server: FakeOpenAIServer, run_dir: Path
) -> None:
    gate = threading.Event()
    server.enqueue(Reply.gated("first ", "second", gate=gate, after=1))
    pool, future = _start(_backend(server), run_dir, threading.Event())
    with pool:
        try:
            _wait_until(lambda: "first " in _read(run_dir / "agent-stdout.txt"))
            assert not future.done()
            assert "second" not in _read(run_dir / "agent-stdout.txt")
            assert not (run_dir / "output.md").exists()
        finally:
            gate.set()
        code, result = future.result(timeout=10)
    assert code == EXIT_OK
    assert result.final_text == "first second"


def test_slow_stream_completes(server: FakeOpenAIServer, run_dir: Path) -> None:
    server.enqueue(Reply.stream("a", "b", "c", "d", delay=0.05))
    code, result = _run(_backend(server), run_dir)
    assert (code, result.final_text) == (EXIT_OK, "abcd")


def test_rate_limit_waits_for_retry_after_then_succeeds(
    server: FakeOpenAIServer, run_dir: Path, waits: list[float]
) -> None:
    server.enqueue(Reply.error(429, "slow down", retry_after=0.4), Reply.stream("ok"))
    code, result = _run(_backend(server), run_dir)
    assert code == EXIT_OK
    assert result.final_text == "ok"
    assert waits == [0.4]  # the server's Retry-After, waited out (the backoff is 0.01 s)
    assert server.request_count() == 2
    stderr = _read(run_dir / "agent-stderr.txt")
    assert "HTTP 429: slow down; retrying in 0.4s (attempt 2 of 4)" in stderr


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_is_retried(server: FakeOpenAIServer, run_dir: Path, status: int) -> None:
    server.enqueue(Reply.error(status), Reply.stream("recovered"))
    code, result = _run(_backend(server), run_dir)
    assert (code, result.final_text) == (EXIT_OK, "recovered")
    assert server.request_count() == 2
    assert f"HTTP {status}" in _read(run_dir / "agent-stderr.txt")


def test_dropped_stream_restarts_the_request(server: FakeOpenAIServer, run_dir: Path) -> None:
    server.enqueue(Reply.dropped("par", "tial", "never", after=2), Reply.stream("whole ", "answer"))
    code, result = _run(_backend(server), run_dir)
    assert (code, result.final_text) == (EXIT_OK, "whole answer")
    assert server.request_count() == 2
    stdout = _read(run_dir / "agent-stdout.txt")
    assert stdout.startswith("partial\n\n[conductor-loop: the stream was cut off")
    assert stdout.endswith("]\n\nwhole answer\n")
    assert _read(run_dir / "output.md") == "whole answer"
    assert "the stream was cut off" in _read(run_dir / "agent-stderr.txt")


def test_stream_closed_without_finish_is_retried(server: FakeOpenAIServer, run_dir: Path) -> None:
    server.enqueue(Reply.stream("half", finish=False), Reply.stream("full"))
    code, result = _run(_backend(server), run_dir)
    assert (code, result.final_text) == (EXIT_OK, "full")
    assert "ended before the answer was complete" in _read(run_dir / "agent-stderr.txt")


def test_stalled_stream_is_retried(server: FakeOpenAIServer, run_dir: Path) -> None:
    server.enqueue(Reply.hanging("x", after=1), Reply.stream("fresh"))
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, read_timeout=0.3)
    code, result = _run(_backend(server, policy=policy), run_dir)
    assert (code, result.final_text) == (EXIT_OK, "fresh")
    assert "the stream stalled (no data for 0.3s)" in _read(run_dir / "agent-stderr.txt")


@pytest.mark.parametrize("status", [401, 403])
def test_authentication_failure_fails_fast(
    server: FakeOpenAIServer, run_dir: Path, status: int
) -> None:
    server.enqueue(Reply.error(status, "Invalid API key"))
    code, result = _run(_backend(server), run_dir)
    assert code == EXIT_FAILED
    assert result.error == (
        f"authentication failed (HTTP {status}) — check the token for agent my-xai "
        "(XAI_API_KEY): Invalid API key"
    )
    assert server.request_count() == 1
    assert result.error in _read(run_dir / "agent-stderr.txt")
    assert not (run_dir / "output.md").exists()


def test_client_error_is_not_retried(server: FakeOpenAIServer, run_dir: Path) -> None:
    server.enqueue(Reply.error(400, "model not found"))
    code, result = _run(_backend(server), run_dir)
    assert code == EXIT_FAILED
    assert result.error == f"HTTP 400 from {server.base_url}/chat/completions: model not found"
    assert server.request_count() == 1


def test_retries_are_bounded(server: FakeOpenAIServer, run_dir: Path) -> None:
    server.default = Reply.error(503, "overloaded")
    policy = RetryPolicy(max_attempts=3, base_delay=0.01)
    code, result = _run(_backend(server, policy=policy), run_dir)
    assert code == EXIT_FAILED
    assert result.error == "HTTP 503: overloaded; giving up after 3 attempts"
    assert server.request_count() == 3


def test_unreachable_server_is_retried_then_reported(run_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = AgentConfig(type="xai", base_url=f"http://127.0.0.1:{port}/v1")
    backend = backend_for("x", config)
    assert isinstance(backend, OpenAIChatBackend)
    backend.retry = RetryPolicy(max_attempts=2, base_delay=0.01)
    code, result = backend.run(_ctx(run_dir), TOKEN, threading.Event())
    assert code == EXIT_FAILED
    assert result.error is not None
    assert result.error.startswith(f"cannot reach http://127.0.0.1:{port}/v1")
    assert result.error.endswith("giving up after 2 attempts")


def test_cancel_stops_a_silent_stream_promptly(server: FakeOpenAIServer, run_dir: Path) -> None:
    server.enqueue(Reply.hanging("partial", "never", after=1))
    cancel = threading.Event()
    pool, future = _start(_backend(server), run_dir, cancel)
    with pool:
        _wait_until(lambda: "partial" in _read(run_dir / "agent-stdout.txt"))
        cancel.set()
        # The stream stays silent (read timeout 120 s): only the cancel can end the run.
        code, result = future.result(timeout=30)
    assert code == EXIT_CANCELLED
    assert result.error == "cancelled"
    assert "agent my-xai: cancelled" in _read(run_dir / "agent-stderr.txt")


def test_cancel_interrupts_a_retry_wait(
    server: FakeOpenAIServer, run_dir: Path, waits: list[float]
) -> None:
    server.enqueue(Reply.error(429, retry_after=60))
    cancel = threading.Event()
    pool, future = _start(_backend(server), run_dir, cancel)
    with pool:
        _wait_until(lambda: "retrying in 60s" in _read(run_dir / "agent-stderr.txt"))
        cancel.set()
        code, _ = future.result(timeout=30)  # the wait alone would take 60 s
    assert code == EXIT_CANCELLED
    assert server.request_count() == 1
    assert 60 not in waits  # the retry wait was cut short, not waited out


def test_cancel_before_start_sends_nothing(server: FakeOpenAIServer, run_dir: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    code, _ = _backend(server).run(_ctx(run_dir), TOKEN, cancel)
    assert code == EXIT_CANCELLED
    assert server.request_count() == 0


def test_timeout_is_respected(server: FakeOpenAIServer, run_dir: Path) -> None:
    server.enqueue(Reply.hanging("slow", after=1))
    pool, future = _start(_backend(server), run_dir, threading.Event(), timeout=0.5)
    with pool:
        # The stream stays silent (read timeout 120 s): only the run's timeout can end it.
        code, result = future.result(timeout=30)
    assert code == EXIT_TIMEOUT
    assert result.error == "timed out after 0.5s"
    assert _read(run_dir / "agent-stdout.txt").startswith("slow")  # not before the stream
    assert server.request_count() == 1


def test_config_timeout_applies_when_the_run_sets_none(
    server: FakeOpenAIServer, run_dir: Path
) -> None:
    server.enqueue(Reply.hanging("slow", after=1))
    code, _ = _run(_backend(server, timeout=0.3), run_dir, timeout=None)
    assert code == EXIT_TIMEOUT


def test_retry_after_beyond_the_deadline_gives_up_at_once(
    server: FakeOpenAIServer, run_dir: Path
) -> None:
    server.enqueue(Reply.error(429, retry_after=30))
    code, result = _run(_backend(server), run_dir, timeout=5)
    assert code == EXIT_TIMEOUT
    assert result.error is not None
    # Not "timed out after 5s": it gave up before waiting, without a retry note.
    assert "would start after the run's timeout" in result.error
    assert "retrying in" not in _read(run_dir / "agent-stderr.txt")
    assert server.request_count() == 1


def test_missing_token_fails_without_a_request(server: FakeOpenAIServer, run_dir: Path) -> None:
    code, result = _backend(server).run(_ctx(run_dir), None, threading.Event())
    assert code == EXIT_FAILED
    assert result.error is not None
    assert "no token for agent my-xai" in result.error
    assert "XAI_API_KEY" in result.error
    assert server.request_count() == 0


def test_token_never_reaches_any_file(server: FakeOpenAIServer, run_dir: Path) -> None:
    server.enqueue(
        Reply.error(500, f"upstream rejected key {TOKEN}"),
        Reply.dropped("a", "b", after=1),
        Reply.stream("fine"),
        Reply.error(401, f"bad key {TOKEN}"),
    )
    backend = _backend(server)
    first = _run(backend, run_dir)
    second = _run(backend, run_dir)
    assert first[0] == EXIT_OK
    assert second[0] == EXIT_FAILED
    for name, text in _files(run_dir).items():
        assert TOKEN not in text, name
    assert "***" in _read(run_dir / "agent-stderr.txt")
    for _, result in (first, second):
        assert TOKEN not in repr(result)


def test_run_works_inside_a_running_event_loop(server: FakeOpenAIServer, run_dir: Path) -> None:
    backend = _backend(server)

    async def caller() -> Outcome:
        return backend.run(_ctx(run_dir), TOKEN, threading.Event())

    code, result = asyncio.run(caller())
    assert (code, result.final_text) == (EXIT_OK, "Hello from the fake server.")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), ("0.5", 0.5), ("-1", 0.0), ("soon", None), ("", None)],
)
def test_retry_after_header_in_seconds(value: str, expected: float | None) -> None:
    assert openai_chat._retry_after(httpx.Headers({"Retry-After": value})) == expected


def test_retry_after_header_as_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = openai_chat._retry_after(httpx.Headers({"Retry-After": when}))
    assert seconds is not None
    assert 25 <= seconds <= 30
