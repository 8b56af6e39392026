"""Google Gemini CLI (``gemini --output-format stream-json``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from conductor_loop.agents.base import AgentResult, CliBackend
from conductor_loop.agents.jsonlines import as_int, as_str, json_events

API_KEY_SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
}


class GeminiBackend(CliBackend):
    """Final answer: the assistant text streamed after the last tool result.

    Gemini streams its answer as ``message`` deltas and its ``result`` event carries no
    text. Text written before a tool call is narration ("let me check …"); the answer
    is what the model says once its tools are done. When nothing follows the last tool
    result (the run ended on a tool call), all assistant text is the best answer there is.

    With an API key, Gemini must be told to use it (``security.auth.selectedType``; else a
    ``base_url`` makes it pick "gateway" auth and exit 41): such a run gets a private
    settings home (``GEMINI_CLI_HOME``, which moves only Gemini's ``~/.gemini``, not the
    ``HOME`` its tools see). Without a key it runs with the user's own login and settings.

    Usage comes from the ``result`` event's ``stats``: ``input_tokens`` is the whole
    prompt (its cached part included), ``cached`` the part read from the prompt cache.
    """

    type: ClassVar[str] = "gemini"
    token_env: ClassVar[str] = "GEMINI_API_KEY"
    default_executable: ClassVar[str] = "gemini"
    home_env: ClassVar[tuple[str, ...]] = ("GEMINI_CLI_HOME",)
    home_var: ClassVar[str | None] = "GEMINI_CLI_HOME"
    login_hint: ClassVar[str] = "run `gemini` once and log in with Google"
    base_url_needs_token: ClassVar[bool] = True
    # In a folder it does not trust, Gemini quietly drops ``--approval-mode yolo`` and
    # then waits for approvals nobody gives; a run's cwd is rarely a trusted folder.
    default_env: ClassVar[dict[str, str]] = {"GEMINI_CLI_TRUST_WORKSPACE": "true"}

    def settings_env(self) -> dict[str, str]:
        return {"GOOGLE_GEMINI_BASE_URL": self.config.base_url} if self.config.base_url else {}

    def base_url_problem(self, url: str) -> str | None:
        parsed = urlsplit(url)
        if parsed.scheme == "https" or parsed.hostname in ("localhost", "127.0.0.1", "::1"):
            return None
        return f"{url!r}: gemini accepts plain http only for localhost / 127.0.0.1 / [::1]"

    def home_files(self, env: Mapping[str, str]) -> dict[str, str]:
        """Settings selecting API-key auth, when the run has a key and the config does
        not name a Gemini home of its own (``env: {GEMINI_CLI_HOME: …}``)."""
        if not env.get(self.token_env_name) or "GEMINI_CLI_HOME" in self.config.env:
            return {}
        return {".gemini/settings.json": json.dumps(API_KEY_SETTINGS, indent=2) + "\n"}

    def argv(self) -> list[str]:
        argv = [
            self.executable,
            "--screen-reader",
            "true",
            "--approval-mode",
            "yolo",
            "--output-format",
            "stream-json",
        ]
        if self.config.model:
            argv += ["-m", self.config.model]
        return argv + list(self.config.args)

    def parse_stdout(self, stdout_text: str) -> AgentResult:
        result = AgentResult()
        all_text: list[str] = []
        since_last_tool: list[str] = []
        errors: list[str] = []
        result_seen = False
        for event in json_events(stdout_text):
            kind = event.get("type")
            if kind == "init":
                result.model = as_str(event.get("model")) or result.model
            elif kind == "message" and event.get("role") == "assistant":
                content = event.get("content")
                if isinstance(content, str):
                    all_text.append(content)
                    since_last_tool.append(content)
            elif kind in ("tool_use", "tool_result"):
                since_last_tool = []
            elif kind == "error" and event.get("severity", "error") == "error":
                errors.append(as_str(event.get("message")) or "gemini reported an error")
            elif kind == "result":
                result_seen = True
                _read_result_event(event, result, errors)
        if not result_seen and errors:
            result.error = errors[-1]
        answer = "".join(since_last_tool)
        if not answer.strip():
            answer = "".join(all_text)
        result.final_text = answer or None
        result.model = result.model or self.config.model
        return result


def _read_result_event(event: dict[str, Any], result: AgentResult, errors: list[str]) -> None:
    if event.get("status") == "error":
        error = event.get("error")
        message = as_str(error.get("message")) if isinstance(error, dict) else as_str(error)
        result.error = message or (errors[-1] if errors else "gemini reported an error")
    stats = event.get("stats")
    if isinstance(stats, dict):
        result.input_tokens = as_int(stats.get("input_tokens", stats.get("input")))
        result.output_tokens = as_int(stats.get("output_tokens"))
        result.cached_input_tokens = as_int(stats.get("cached"))
