"""Claude Code (``claude -p … --output-format stream-json``)."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from conductor_loop.agents.base import AgentResult, CliBackend
from conductor_loop.agents.jsonlines import as_float, as_int, as_str, json_events


class ClaudeBackend(CliBackend):
    """Final answer: the last ``result`` event's ``result``.

    The model is the one the API says answered (assistant messages), else the one the
    CLI asked for (``system/init``, which may carry a suffix such as ``[1m]``).

    When the stream has no ``result`` (the process was killed), the answer is the text
    of the last top-level assistant message; messages of sub-agents (those with a
    ``parent_tool_use_id``) never count.

    Usage: claude makes more than one model request per run (the answer, and a session
    title on a small model). The result's ``usage`` counts the answer's requests only,
    while ``modelUsage`` (per model) and ``total_cost_usd`` cover them all, so the token
    figures are summed over ``modelUsage`` to match the cost, which is what was billed;
    ``usage`` is the fallback when ``modelUsage`` is missing. Input tokens include cache
    reads and writes, because those are tokens the model was given too; cached input
    tokens are the cache reads.
    """

    type: ClassVar[str] = "claude"
    token_env: ClassVar[str] = "ANTHROPIC_API_KEY"
    default_executable: ClassVar[str] = "claude"
    home_env: ClassVar[tuple[str, ...]] = ("CLAUDE_CONFIG_DIR",)
    login_hint: ClassVar[str] = "run `claude` once and log in"
    # unattended: no update checks, telemetry or other calls besides the model's
    default_env: ClassVar[dict[str, str]] = {
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
    }

    def settings_env(self) -> dict[str, str]:
        return {"ANTHROPIC_BASE_URL": self.config.base_url} if self.config.base_url else {}

    def required_env(self) -> dict[str, str]:
        """As root, claude refuses its bypass mode unless ``IS_SANDBOX`` is exactly "1"
        (a machine exporting ``yes`` or ``true`` does not do)."""
        return {"IS_SANDBOX": "1"} if os.geteuid() == 0 else {}

    def argv(self) -> list[str]:
        argv = [
            self.executable,
            "-p",
            "--input-format",
            "text",
            "--output-format",
            "stream-json",
            "--verbose",
            "--tools",
            "default",
            "--permission-mode",
            "bypassPermissions",
        ]
        if self.config.model:
            argv += ["--model", self.config.model]
        return argv + list(self.config.args)

    def parse_stdout(self, stdout_text: str) -> AgentResult:
        result = AgentResult()
        last_assistant_text: str | None = None
        final_seen = False
        requested_model: str | None = None
        answering_model: str | None = None
        for event in json_events(stdout_text):
            kind = event.get("type")
            if kind == "system" and event.get("subtype") == "init":
                requested_model = as_str(event.get("model")) or requested_model
            elif kind == "assistant" and not event.get("parent_tool_use_id"):
                message = event.get("message")
                if isinstance(message, dict):
                    model = as_str(message.get("model"))
                    if model and not model.startswith("<"):  # "<synthetic>": the CLI's own
                        answering_model = model
                    text = _text_of(message.get("content"))
                    if text:
                        last_assistant_text = text
            elif kind == "result":
                final_seen = True
                _read_result_event(event, result)
        if not final_seen or (result.final_text is None and result.error is None):
            result.final_text = last_assistant_text
        result.model = answering_model or requested_model or result.model or self.config.model
        return result


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = [
        block["text"]
        for block in content
        if isinstance(block, dict)
        and block.get("type") == "text"
        and isinstance(block.get("text"), str)
    ]
    return "\n\n".join(part for part in parts if part)


def _read_result_event(event: dict[str, Any], result: AgentResult) -> None:
    text = event.get("result")
    result.final_text = text if isinstance(text, str) else None
    subtype = as_str(event.get("subtype")) or ""
    if event.get("is_error") is True or subtype.startswith("error"):
        detail = (text or "").strip() if isinstance(text, str) else ""
        result.error = detail or f"claude reported {subtype or 'an error'}"
    model_usage = event.get("modelUsage")
    if not (isinstance(model_usage, dict) and _read_model_usage(model_usage, result)):
        usage = event.get("usage")
        if isinstance(usage, dict):
            _read_tokens(
                result,
                usage.get("input_tokens"),
                usage.get("cache_creation_input_tokens"),
                usage.get("cache_read_input_tokens"),
                usage.get("output_tokens"),
            )
    result.cost_usd = as_float(event.get("total_cost_usd"))
    if result.model is None and isinstance(model_usage, dict) and model_usage:
        result.model = next(iter(model_usage))


def _read_model_usage(model_usage: dict[str, Any], result: AgentResult) -> bool:
    """Token figures summed over ``modelUsage``; False when it holds none."""
    per_model = [entry for entry in model_usage.values() if isinstance(entry, dict)]
    if not per_model:
        return False

    def summed(key: str) -> int | None:
        counts = [c for entry in per_model if (c := as_int(entry.get(key))) is not None]
        return sum(counts) if counts else None

    _read_tokens(
        result,
        summed("inputTokens"),
        summed("cacheCreationInputTokens"),
        summed("cacheReadInputTokens"),
        summed("outputTokens"),
    )
    return True


def _read_tokens(
    result: AgentResult, uncached: Any, cache_writes: Any, cache_reads: Any, output: Any
) -> None:
    counts = [as_int(value) for value in (uncached, cache_writes, cache_reads)]
    known = [count for count in counts if count is not None]
    result.input_tokens = sum(known) if known else None
    result.cached_input_tokens = counts[2]
    result.output_tokens = as_int(output)
