"""The scripted fake model servers the real-agent tests use (tests/agents): each speaks its
provider's streaming protocol, takes scripted replies in order, answers side requests
without using up the script, and records requests without their secrets."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from tests.fakes.fake_model_servers import (
    REDACTED,
    AnthropicServer,
    FakeModelServer,
    GeminiServer,
    OpenAIResponsesServer,
    Reply,
    Usage,
)

TOKEN = "sk-fake-9999"
TOOLS = [{"name": "Bash"}]


def _turn(server: FakeModelServer, **extra: Any) -> httpx.Response:
    """One model request the way the server's CLI sends it."""
    if isinstance(server, AnthropicServer):
        body = {"model": "claude-x", "stream": True, "tools": TOOLS, "messages": [], **extra}
        return httpx.post(
            f"{server.url}/v1/messages?beta=true", json=body, headers={"x-api-key": TOKEN}
        )
    if isinstance(server, OpenAIResponsesServer):
        body = {"model": "gpt-x", "stream": True, "input": [], **extra}
        headers = {"authorization": f"Bearer {TOKEN}"}
        return httpx.post(f"{server.url}/v1/responses", json=body, headers=headers)
    url = f"{server.url}/v1beta/models/gemini-x:streamGenerateContent?alt=sse"
    return httpx.post(url, json={"contents": [], **extra}, headers={"x-goog-api-key": TOKEN})


def _events(response: httpx.Response) -> list[dict[str, Any]]:
    return [
        json.loads(line.removeprefix("data: "))
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]


def _answer_and_usage(server: FakeModelServer, events: list[dict[str, Any]]) -> tuple[str, Any]:
    if isinstance(server, AnthropicServer):
        text = "".join(
            e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta"
        )
        start = events[0]["message"]["usage"]
        final = events[-2]["usage"]["output_tokens"]
        assert [e["type"] for e in events][-2:] == ["message_delta", "message_stop"]
        usage = (
            start["input_tokens"] + start["cache_read_input_tokens"],
            final,
            start["cache_read_input_tokens"],
        )
        return text, usage
    if isinstance(server, OpenAIResponsesServer):
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        assert events[-1]["type"] == "response.completed"
        usage = events[-1]["response"]["usage"]
        return text, (
            usage["input_tokens"],
            usage["output_tokens"],
            usage["input_tokens_details"]["cached_tokens"],
        )
    text = "".join(
        p.get("text", "") for e in events for p in e["candidates"][0]["content"]["parts"]
    )
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    meta = events[-1]["usageMetadata"]
    return text, (
        meta["promptTokenCount"],
        meta["candidatesTokenCount"],
        meta["cachedContentTokenCount"],
    )


SERVERS = [AnthropicServer, OpenAIResponsesServer, GeminiServer]


@pytest.mark.parametrize("server_class", SERVERS, ids=lambda c: c.name)
def test_replies_stream_in_order_with_their_usage_and_requests_are_recorded_without_secrets(
    server_class: type[FakeModelServer],
) -> None:
    replies = [Reply.answer("one two three four", Usage(40, 6, 10)), Reply.answer("second")]
    with server_class(*replies, expected_token=TOKEN) as server:
        first = _turn(server, note="first")
        second = _turn(server)
        third = _turn(server)
    assert first.status_code == 200 and first.headers["content-type"] == "text/event-stream"
    assert _answer_and_usage(server, _events(first)) == ("one two three four", (40, 6, 10))
    assert _answer_and_usage(server, _events(second))[0] == "second"
    assert _answer_and_usage(server, _events(third))[0] == server.default.text
    assert [r.body.get("note") for r in server.model_requests] == ["first", None, None]
    assert all(r.authorized for r in server.requests)
    assert TOKEN not in json.dumps([r.headers for r in server.requests])
    assert REDACTED in json.dumps([r.headers for r in server.requests])
    assert server.reported_usage == Usage(40 + 2 * 12, 6 + 2 * 5, 10)


@pytest.mark.parametrize("server_class", SERVERS, ids=lambda c: c.name)
def test_a_shell_reply_is_the_clis_own_shell_tool_call(server_class: type[FakeModelServer]) -> None:
    with server_class(Reply.shell("touch DONE", "Making it.")) as server:
        events = _events(_turn(server))
    text = json.dumps(events)
    if server_class is AnthropicServer:
        assert '"name": "Bash"' in text and '\\"command\\": \\"touch DONE\\"' in text
        assert events[-2]["delta"]["stop_reason"] == "tool_use"
    elif server_class is OpenAIResponsesServer:
        [call] = [
            e["item"]
            for e in events
            if e["type"] == "response.output_item.done" and e["item"]["type"] == "function_call"
        ]
        assert call["name"] == "exec_command" and json.loads(call["arguments"]) == {
            "cmd": "touch DONE"
        }
    else:
        parts = [p for e in events for p in e["candidates"][0]["content"]["parts"]]
        assert {
            "functionCall": {"name": "run_shell_command", "args": {"command": "touch DONE"}}
        } in parts


@pytest.mark.parametrize(
    ("server_class", "words"),
    [
        (AnthropicServer, "authentication_error"),
        (OpenAIResponsesServer, "invalid_api_key"),
        (GeminiServer, "UNAUTHENTICATED"),
    ],
    ids=lambda c: getattr(c, "name", ""),
)
def test_an_error_reply_is_the_providers_error_and_a_wrong_token_is_seen(
    server_class: type[FakeModelServer], words: str
) -> None:
    with server_class(Reply.error(401, "no such key"), expected_token="another") as server:
        response = _turn(server)
    assert response.status_code == 401
    assert words in response.text and "no such key" in response.text
    assert server.requests[0].authorized is False


def test_side_requests_get_fixed_answers_without_using_up_the_script() -> None:
    with AnthropicServer(Reply.answer("the turn")) as server:
        assert httpx.head(server.url).status_code == 200
        title = {"model": "m", "stream": True, "tools": [], "messages": []}
        titled = httpx.post(f"{server.url}/v1/messages", json=title)
        turn = _turn(server)
    title_text = _answer_and_usage(server, _events(titled))[0]
    assert json.loads(title_text) == {"title": "Fake session title"}
    assert _answer_and_usage(server, _events(turn))[0] == "the turn"
    assert [r.scripted for r in server.requests] == [False, False, True]
    with GeminiServer(Reply.answer("the turn")) as gemini:
        routed = httpx.post(
            f"{gemini.url}/v1beta/models/gemini-flash-lite:generateContent", json={}
        )
        turn = _turn(gemini)
    assert "model_choice" in routed.json()["candidates"][0]["content"]["parts"][0]["text"]
    assert _answer_and_usage(gemini, _events(turn))[0] == "the turn"


@pytest.mark.parametrize("server_class", SERVERS, ids=lambda c: c.name)
def test_a_stalled_reply_starts_streaming_and_never_finishes_until_the_server_closes(
    server_class: type[FakeModelServer],
) -> None:
    server = server_class(Reply.stalled()).start()
    received: list[bytes] = []
    ended = threading.Event()

    def read() -> None:
        try:
            with _stream(server) as response:
                for chunk in response.iter_raw():
                    received.append(chunk)
        except httpx.HTTPError:
            pass
        ended.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert server.wait_for_model_requests(1)
        assert not ended.wait(0.5), "a stalled reply finished"
    finally:
        server.close()
    assert ended.wait(5), "closing the server did not end the stalled reply"
    assert received, "a stalled reply sends its first event"


def _stream(server: FakeModelServer) -> Any:
    client = httpx.Client(timeout=10)
    if isinstance(server, AnthropicServer):
        body = {"model": "m", "stream": True, "tools": TOOLS, "messages": []}
        return client.stream("POST", f"{server.url}/v1/messages", json=body)
    if isinstance(server, OpenAIResponsesServer):
        return client.stream("POST", f"{server.url}/v1/responses", json={"stream": True})
    url = f"{server.url}/v1beta/models/g:streamGenerateContent?alt=sse"
    return client.stream("POST", url, json={})
