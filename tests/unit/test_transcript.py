"""The follow renderer turns agents' stream-json stdout into readable lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conductor_loop.cli.transcript import TranscriptRenderer, colour_wanted

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "agents"


def _render(name: str) -> list[str]:
    renderer = TranscriptRenderer()
    lines: list[str] = []
    for line in (FIXTURES / name).read_text().splitlines():
        lines += renderer.feed(line)
    return lines + renderer.finish()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "claude_tool.jsonl",
            [
                "session: claude (claude-opus-4-8[1m])",
                "assistant: I'll mark the task done.",
                "▸ tool Bash: touch /tmp/capture/DONE",
                "  ↳ (Bash completed with no output)",
                "assistant: The answer is 42.",
                "usage: 240 in / 52 out tokens · $0.0025",
            ],
        ),
        (
            "codex_tool.jsonl",
            [
                "session: codex",
                "▸ tool shell: touch /tmp/capture/DONE_C",
                "  ↳ no output (exit 0)",
                "assistant: The answer is 42.",
                "usage: 3000 in / 60 out tokens",
            ],
        ),
        (
            "gemini_tool.jsonl",
            [
                "session: gemini (gemini-2.5-flash)",
                "assistant: I'll create the DONE file.",
                "▸ tool run_shell_command: touch /tmp/capture/DONE_G",
                "  ↳ no output",
                "assistant: The answer is 42.",
                "usage: 1700 in / 26 out tokens",
            ],
        ),
    ],
)
def test_tool_transcripts_read_as_the_ui_shows_them(name: str, expected: list[str]) -> None:
    assert _render(name) == expected


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.jsonl")))
def test_no_fixture_renders_json_and_each_ends_with_usage_or_error(name: str) -> None:
    lines = _render(name)
    assert lines and not any(line.lstrip().startswith("{") for line in lines)
    assert lines[-1].startswith(("usage:", "error:")), lines
    if "error" in name:
        assert any(line.startswith("error:") for line in lines), lines


def test_final_answer_is_shown_when_no_text_said_it() -> None:
    renderer = TranscriptRenderer()
    out = renderer.feed('{"type":"result","subtype":"success","is_error":false,"result":"42"}')
    assert out + renderer.finish() == ["answer: 42"]


def test_long_tool_output_folds_to_a_line_count_and_plain_text_passes() -> None:
    renderer = TranscriptRenderer()
    lines = renderer.feed("plain text from a REST agent")
    lines += renderer.feed(
        '{"type":"item.completed","item":{"id":"1","type":"command_execution",'
        '"command":"/bin/bash -lc \'ls -la\'","aggregated_output":"a\\nb\\nc\\n","exit_code":2,'
        '"status":"failed"}}'
    )
    assert lines == [
        "plain text from a REST agent",
        "▸ tool shell: ls -la",
        "  ↳ 3 lines (exit 2)",
    ]


def test_gemini_deltas_join_into_lines_and_multiline_text_is_indented() -> None:
    renderer = TranscriptRenderer()
    lines: list[str] = []
    for piece in ("Hel", "lo\nsecond ", "line"):
        event = {"type": "message", "role": "assistant", "delta": True, "content": piece}
        lines += renderer.feed(json.dumps(event))
    assert lines == ["assistant: Hello"]
    assert renderer.finish() == ["           second line"]


def test_colour_only_on_a_tty_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert colour_wanted(Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour_wanted(Tty())
    monkeypatch.setenv("NO_COLOR", "")  # empty: not set, per no-color.org
    assert colour_wanted(Tty())
    monkeypatch.delenv("NO_COLOR")
    with open(__file__) as not_a_tty:
        assert not colour_wanted(not_a_tty)
    renderer = TranscriptRenderer(colour=True)
    renderer.feed('{"type":"result","subtype":"success","is_error":false,"result":"42"}')
    assert renderer.finish()[0].startswith("\x1b[")


def test_the_renderer_is_imported_only_to_follow() -> None:
    """`run-agent job` starts fast: the renderer and follower load only with -f."""
    code = (
        "import sys, conductor_loop.cli.run_agent, conductor_loop.cli.run_commands;"
        "print([m for m in sys.modules if m.endswith(('.transcript', '.follow'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
