"""Agent backends behind one protocol (spec §5).

``base`` holds the protocol (``CliBackend``, ``RestBackend``, ``RunContext``,
``AgentResult``); ``registry`` maps a config's ``type`` to its backend
(``backend_for``) and says whether an agent can run here (``usable``). One module per
backend: ``claude``, ``codex``, ``gemini`` (CLIs), ``openai_chat`` with its
``perplexity`` and ``xai`` subclasses (REST). Import ``registry`` lazily: it pulls in
httpx, which a process that only reads runs does not need.
"""
