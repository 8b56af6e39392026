"""xAI (Grok models) over its OpenAI-compatible chat completions API."""

from __future__ import annotations

from typing import ClassVar

from conductor_loop.agents.openai_chat import OpenAIChatBackend


class XaiBackend(OpenAIChatBackend):
    type: ClassVar[str] = "xai"
    token_env: ClassVar[str] = "XAI_API_KEY"
    default_base_url: ClassVar[str] = "https://api.x.ai/v1"
    default_model: ClassVar[str] = "grok-2"
