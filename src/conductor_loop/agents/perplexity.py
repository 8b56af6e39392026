"""Perplexity (Sonar models) over its OpenAI-style chat completions API."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from conductor_loop.agents.openai_chat import OpenAIChatBackend

_THINK_BLOCK = re.compile(r"\A\s*<think>.*?</think>\s*", re.DOTALL)


class PerplexityBackend(OpenAIChatBackend):
    """Reasoning models open their answer with a ``<think>…</think>`` block: stdout keeps
    it, ``output.md`` drops it and lists the sources the answer cites."""

    type: ClassVar[str] = "perplexity"
    token_env: ClassVar[str] = "PERPLEXITY_API_KEY"
    default_base_url: ClassVar[str] = "https://api.perplexity.ai"
    default_model: ClassVar[str] = "sonar-reasoning"

    def final_answer(self, answer: str, extras: dict[str, Any]) -> str:
        text = _THINK_BLOCK.sub("", answer, count=1)
        citations = [url for url in extras.get("citations") or [] if isinstance(url, str)]
        if citations:
            sources = "\n".join(f"[{number}] {url}" for number, url in enumerate(citations, 1))
            text = f"{text.rstrip()}\n\nSources:\n{sources}\n"
        return text
