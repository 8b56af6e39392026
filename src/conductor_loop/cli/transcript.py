"""Agents' stream-json stdout as readable lines, for ``job -f`` and ``task --follow``.

The same reading the UI does (frontend/src/transcript/streamJson.ts), line by line as
the output arrives: assistant text, each tool call on one line with its result folded to
one more, and at the end the final answer, any error and the usage. The answer, error
and usage come from the agent's backend parser, exactly as the runner records them.
Lines that are not JSON events (REST agents stream plain text) pass through as they are.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal, Protocol

import click

from conductor_loop.agents.jsonlines import as_int, as_str

TOOL_FIELDS = ("command", "file_path", "path", "pattern", "url", "query", "description", "prompt")
SUMMARY_WIDTH = 200
ASSISTANT = "assistant: "
CLAUDE_EVENTS = frozenset({"system", "assistant", "user"})
GEMINI_EVENTS = frozenset({"init", "message", "tool_use", "tool_result"})
STYLES: dict[str, dict[str, Any]] = {
    "assistant": {},
    "tool": {"fg": "cyan"},
    "result": {"dim": True},
    "session": {"dim": True},
    "thinking": {"dim": True},
    "answer": {"fg": "green", "bold": True},
    "usage": {"dim": True},
    "warning": {"fg": "yellow"},
    "error": {"fg": "red", "bold": True},
}


class _Stream(Protocol):
    def isatty(self) -> bool: ...


def colour_wanted(stream: _Stream) -> bool:
    """Colour on a terminal, unless ``NO_COLOR`` is set to anything (no-color.org)."""
    return not os.environ.get("NO_COLOR") and stream.isatty()


def unwrap_shell(command: str) -> str:
    """``/bin/bash -lc 'cmd'`` → ``cmd`` (how codex reports shell commands)."""
    for prefix in ("/bin/bash -lc ", "/bin/sh -lc "):
        if command.startswith(prefix):
            quoted = command[len(prefix) :]
            if len(quoted) >= 2 and quoted[0] == quoted[-1] and quoted[0] in "'\"":
                return quoted[1:-1].replace("'\\''", "'")
            return quoted
    return command


def tool_summary(tool_input: Any) -> str:
    """One line about what a tool call does (a command, a file path), from its input."""
    if isinstance(tool_input, str):
        return _one_line(tool_input)
    if isinstance(tool_input, dict):
        for name in TOOL_FIELDS:
            value = tool_input.get(name)
            if isinstance(value, str) and value.strip():
                return _one_line(value)
    return _one_line(json.dumps(tool_input))


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    more = len(first) > SUMMARY_WIDTH or len(lines) > 1
    return first[:SUMMARY_WIDTH] + ("…" if more else "")


def _folded(output: str, exit_code: int | None = None, error: bool = False) -> str:
    """A tool's output as one line: itself when it is one line, else its line count."""
    lines = output.strip().splitlines()
    if not lines:
        text = "no output"
    elif len(lines) == 1:
        text = _one_line(lines[0])
    else:
        text = f"{len(lines)} lines"
    if exit_code is not None:
        text += f" (exit {exit_code})"
    elif error:
        text += " (error)"
    return f"  ↳ {text}"


def _text_of(content: Any) -> str:
    """Text of a message's or tool result's content (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            (as_str(part.get("text")) or as_str(part.get("content")) or "")
            if isinstance(part, dict)
            else str(part)
            for part in content
        )
    return ""


class TranscriptRenderer:
    """Feed it stdout lines, in order; it returns the readable lines each one makes.

    Call ``finish`` once the output is complete (the run ended): it adds the final
    answer (when no assistant text said it already), the error and the usage.
    """

    def __init__(self, *, colour: bool = False) -> None:
        self.colour = colour
        self.flavour: Literal["claude", "codex", "gemini"] | None = None
        self._events: list[str] = []  # the JSON lines, for the backend's parser at the end
        self._pending = ""  # gemini delta text not yet ended by a newline
        self._pending_started = False
        self._last_text = ""  # the assistant text shown last (the answer need not repeat)
        self._delta_open = False  # an "assistant:" line of deltas has been started
        self._codex_started: set[Any] = set()  # codex commands shown as started

    def feed(self, line: str) -> list[str]:
        line = line.rstrip("\r\n")
        stripped = line.strip()
        event: Any = None
        if stripped.startswith("{"):
            try:
                event = json.loads(stripped)
            except ValueError:
                event = None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return [*self._flush(), line]
        self._events.append(stripped)
        kind: str = event["type"]
        delta = kind == "message" and event.get("role") == "assistant"
        out = [] if delta else self._flush()
        self._detect(event, kind)
        return out + [self._styled(k, text) for k, text in self._handle(event, kind)]

    def finish(self) -> list[str]:
        """The closing lines: final answer, error and usage, from the backend's parser."""
        out = self._flush()
        if self.flavour is None:
            return out
        from conductor_loop.agents.base import CliBackend
        from conductor_loop.agents.registry import backend_for
        from conductor_loop.config.models import AgentConfig

        backend = backend_for(self.flavour, AgentConfig(type=self.flavour))
        assert isinstance(backend, CliBackend)  # the flavours are CLI agents
        result = backend.parse_stdout("\n".join(self._events))
        answer = (result.final_text or "").strip()
        if answer and answer != self._last_text.strip() and result.error is None:
            out += self._block("answer", "answer: ", answer)
        if result.error:
            out.append(self._styled("error", f"error: {_one_line(result.error)}"))
        usage = result.usage()
        if usage is not None:
            parts = [f"{usage.input_tokens or 0} in / {usage.output_tokens or 0} out tokens"]
            if usage.cached_input_tokens:
                parts.append(f"{usage.cached_input_tokens} cached")
            if usage.cost_usd is not None:
                parts.append(f"${usage.cost_usd:.4f}")
            out.append(self._styled("usage", "usage: " + " · ".join(parts)))
        return out

    # -- reading events --------------------------------------------------------------

    def _detect(self, event: dict[str, Any], kind: str) -> None:
        if self.flavour is not None:
            return
        if kind in CLAUDE_EVENTS or (kind == "result" and "subtype" in event):
            self.flavour = "claude"
        elif kind.startswith(("thread.", "turn.", "item.")):
            self.flavour = "codex"
        elif kind in GEMINI_EVENTS or kind == "result":
            self.flavour = "gemini"

    def _handle(self, event: dict[str, Any], kind: str) -> list[tuple[str, str]]:
        if kind == "system" and event.get("subtype") == "init":
            return [self._session("claude", event.get("model"))]
        if kind == "init":
            return [self._session("gemini", event.get("model"))]
        if kind == "thread.started":
            return [self._session("codex", None)]
        if kind == "assistant":
            return self._claude_assistant(event)
        if kind == "user":
            return self._claude_user(event)
        if kind.startswith("item."):
            return self._codex_item(event, kind)
        if kind == "message":
            if event.get("role") == "assistant":
                self._delta(_text_of(event.get("content")))
                return self._complete_delta_lines()
            return []  # the prompt
        if kind == "tool_use":
            name = as_str(event.get("tool_name")) or "tool"
            return [("tool", f"▸ tool {name}: {tool_summary(event.get('parameters'))}")]
        if kind == "tool_result":
            error = event.get("error")
            detail = as_str(error.get("message")) if isinstance(error, dict) else None
            output = "\n".join(filter(None, [as_str(event.get("output")), detail]))
            failed = event.get("status") != "success"
            return [("error" if failed else "result", _folded(output, error=failed))]
        if kind == "error" and self.flavour == "codex":
            return [("warning", f"warning: {as_str(event.get('message')) or 'codex error'}")]
        return []  # results, turns and the like: summed up by ``finish``

    def _session(self, agent: str, model: Any) -> tuple[str, str]:
        model_name = as_str(model)
        return ("session", f"session: {agent}" + (f" ({model_name})" if model_name else ""))

    def _claude_assistant(self, event: dict[str, Any]) -> list[tuple[str, str]]:
        message = event.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        out: list[tuple[str, str]] = []
        prefix = "  (sub-agent) " if event.get("parent_tool_use_id") else ""
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                text = as_str(block.get("text"))
                if text and text.strip():
                    out += self._text_lines("assistant", prefix + ASSISTANT, text)
            elif kind in ("thinking", "redacted_thinking"):
                thought = as_str(block.get("thinking")) or "(redacted)"
                out.append(("thinking", f"{prefix}thinking: {_one_line(thought)}"))
            elif kind in ("tool_use", "server_tool_use"):
                name = as_str(block.get("name")) or "tool"
                out.append(("tool", f"{prefix}▸ tool {name}: {tool_summary(block.get('input'))}"))
        return out

    def _claude_user(self, event: dict[str, Any]) -> list[tuple[str, str]]:
        message = event.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        out: list[tuple[str, str]] = []
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                failed = block.get("is_error") is True
                folded = _folded(_text_of(block.get("content")), error=failed)
                out.append(("error" if failed else "result", folded))
        return out

    def _codex_item(self, event: dict[str, Any], kind: str) -> list[tuple[str, str]]:
        item = event.get("item")
        if not isinstance(item, dict):
            return []
        item_type = item.get("type")
        started = kind == "item.started"
        completed = kind == "item.completed"
        if item_type == "command_execution":
            out: list[tuple[str, str]] = []
            if started or (completed and item.get("id") not in self._codex_started):
                self._codex_started.add(item.get("id"))
                command = unwrap_shell(as_str(item.get("command")) or "")
                out.append(("tool", f"▸ tool shell: {_one_line(command)}"))
            if completed:
                exit_code = as_int(item.get("exit_code"))
                failed = item.get("status") == "failed" or exit_code not in (None, 0)
                output = as_str(item.get("aggregated_output")) or ""
                out.append(("error" if failed else "result", _folded(output, exit_code)))
            return out
        if not completed:
            return []
        if item_type == "agent_message":
            return self._text_lines("assistant", ASSISTANT, as_str(item.get("text")) or "")
        if item_type == "reasoning":
            return [("thinking", f"thinking: {_one_line(as_str(item.get('text')) or '')}")]
        if item_type == "error":
            return [("warning", f"warning: {as_str(item.get('message')) or 'codex error'}")]
        if item_type in ("file_change", "mcp_tool_call", "web_search"):
            name = str(item_type).replace("_", " ")
            return [("tool", f"▸ tool {name}: {tool_summary(item)}")]
        return []

    # -- text ------------------------------------------------------------------------

    def _text_lines(self, kind: str, prefix: str, text: str) -> list[tuple[str, str]]:
        self._last_text = text
        lines = text.strip("\n").splitlines() or [""]
        indent = " " * len(prefix)
        return [(kind, (prefix if i == 0 else indent) + line) for i, line in enumerate(lines)]

    def _block(self, kind: str, prefix: str, text: str) -> list[str]:
        return [self._styled(k, line) for k, line in self._text_lines(kind, prefix, text)]

    def _delta(self, text: str) -> None:
        self._pending += text
        self._last_text = (self._last_text if self._pending_started else "") + text
        self._pending_started = True

    def _complete_delta_lines(self) -> list[tuple[str, str]]:
        """Gemini streams text in pieces: whole lines go out as they are complete."""
        if "\n" not in self._pending:
            return []
        done, _, self._pending = self._pending.rpartition("\n")
        return self._delta_lines(done)

    def _delta_lines(self, text: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for line in text.split("\n"):
            indent = " " * len(ASSISTANT) if self._delta_open else ASSISTANT
            self._delta_open = True
            out.append(("assistant", indent + line))
        return out

    def _flush(self) -> list[str]:
        """The rest of gemini's delta text, once something else follows it."""
        pending, self._pending = self._pending, ""
        lines = self._delta_lines(pending) if pending.strip() else []
        self._pending_started = False
        self._delta_open = False
        return [self._styled(kind, text) for kind, text in lines]

    def _styled(self, kind: str, text: str) -> str:
        return click.style(text, **STYLES[kind]) if self.colour else text
