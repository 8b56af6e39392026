"""OpenAI Codex CLI (``codex exec --json``)."""

from __future__ import annotations

from typing import Any, ClassVar

from conductor_loop.agents.base import AgentResult, CliBackend
from conductor_loop.agents.jsonlines import as_int, as_str, json_events

SKIP_GIT_CHECK = "--skip-git-repo-check"
PROVIDER = "conductor"  # the name of the provider a ``base_url`` defines
# TOML basic strings: quote and backslash escaped, control characters as \uXXXX
_TOML_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\"} | {
    code: f"\\u{code:04X}" for code in [*range(0x20), 0x7F]
}


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string, as codex's ``-c key=value`` parses it."""
    return '"' + value.translate(_TOML_ESCAPES) + '"'


class CodexBackend(CliBackend):
    """Final answer: the text of the last completed ``agent_message`` item.

    Codex reports trouble in three ways and only some of it is fatal: ``turn.failed``
    always is; top-level ``error`` events (stream reconnects) and ``error`` items (e.g.
    an unknown model's missing metadata) are warnings when the turn still completes or
    an answer arrives, and the run's error otherwise. Extra ``args`` and the model flag
    go before the final ``-`` (read the prompt from stdin).

    Codex ignores ``OPENAI_BASE_URL``: a ``base_url`` becomes a provider of its own
    (``-c`` overrides, TOML values) speaking the Responses API, whose key is read from
    the agent's token variable.

    Usage is summed over ``turn.completed`` events; as in the OpenAI API, its
    ``input_tokens`` include the ``cached_input_tokens``.
    """

    type: ClassVar[str] = "codex"
    token_env: ClassVar[str] = "OPENAI_API_KEY"
    default_executable: ClassVar[str] = "codex"
    home_env: ClassVar[tuple[str, ...]] = ("CODEX_HOME",)
    login_hint: ClassVar[str] = "run `codex login` once"
    base_url_needs_token: ClassVar[bool] = True

    def argv(self) -> list[str]:
        argv = [self.executable, "exec", "--dangerously-bypass-approvals-and-sandbox"]
        if SKIP_GIT_CHECK not in self.config.args:  # codex refuses the flag twice
            argv.append(SKIP_GIT_CHECK)  # a task folder is rarely a git repository
        argv.append("--json")
        model, base_url = self.config.model, self.config.base_url
        if base_url:
            provider = (
                f"{{name={toml_string(PROVIDER)},base_url={toml_string(base_url)},"
                f'env_key={toml_string(self.token_env_name)},wire_api="responses"}}'
            )
            if model:
                argv += ["-c", f"model={toml_string(model)}"]
            argv += [
                "-c",
                f"model_provider={toml_string(PROVIDER)}",
                "-c",
                f"model_providers.{PROVIDER}={provider}",
            ]
        elif model:
            argv += ["--model", model]
        return [*argv, *self.config.args, "-"]

    def parse_stdout(self, stdout_text: str) -> AgentResult:
        result = AgentResult()
        warnings: list[str] = []
        failure: str | None = None
        turn_completed = False
        input_tokens: int | None = None
        output_tokens: int | None = None
        cached_input_tokens: int | None = None
        for event in json_events(stdout_text):
            kind = event.get("type")
            if kind == "item.completed":
                item = event.get("item")
                if not isinstance(item, dict):
                    continue
                if item.get("type") == "agent_message" and isinstance(item.get("text"), str):
                    result.final_text = item["text"]
                elif item.get("type") == "error":
                    warnings.append(as_str(item.get("message")) or "codex reported an error")
            elif kind == "error":
                warnings.append(as_str(event.get("message")) or "codex reported an error")
            elif kind == "turn.failed":
                failure = _error_message(event.get("error")) or "codex turn failed"
            elif kind == "turn.completed":
                turn_completed = True
                usage = event.get("usage")
                if isinstance(usage, dict):
                    input_tokens = _add(input_tokens, as_int(usage.get("input_tokens")))
                    output_tokens = _add(output_tokens, as_int(usage.get("output_tokens")))
                    cached_input_tokens = _add(
                        cached_input_tokens, as_int(usage.get("cached_input_tokens"))
                    )
            elif kind == "thread.started" or kind == "turn.started":
                continue
        if failure is not None:
            result.error = failure
        elif warnings and not turn_completed and result.final_text is None:
            result.error = warnings[-1]
        result.input_tokens = input_tokens
        result.output_tokens = output_tokens
        result.cached_input_tokens = cached_input_tokens
        result.model = self.config.model
        return result


def _error_message(error: Any) -> str | None:
    if isinstance(error, dict):
        return as_str(error.get("message"))
    return as_str(error)


def _add(total: int | None, value: int | None) -> int | None:
    if value is None:
        return total
    return value if total is None else total + value
