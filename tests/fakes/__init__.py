"""Stand-ins for the real agents, for tests.

- ``fake_agent.py``: one script that behaves like the ``claude``/``codex``/``gemini``
  CLIs (directive language in its docstring); ``install_fake_agents`` puts it on a PATH.
- ``fake_openai_server.FakeOpenAIServer``: a local streaming chat-completions server for
  the REST backends.
- ``fake_model_servers``: scripted Anthropic Messages, OpenAI Responses and Gemini
  streaming servers for the real ``claude``/``codex``/``gemini`` CLIs (tests/agents).
- ``sse``: the HTTP plumbing (threaded server, JSON and chunked SSE) the servers share.

Import as ``from tests.fakes import install_fake_agents`` (pytest puts the project
directory on ``sys.path``: ``pythonpath = ["."]`` in pyproject.toml).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

FAKE_AGENT = Path(__file__).resolve().parent / "fake_agent.py"
FLAVORS = ("claude", "codex", "gemini")
FAKE_TOKEN = "fake-token-not-a-secret"


def install_fake_agents(bin_dir: Path) -> Path:
    """Write ``claude``, ``codex`` and ``gemini`` executables into ``bin_dir``; return it.

    Each is a two-line shell wrapper that ``exec``s the fake agent with this
    interpreter, so the agent's pid is the wrapper's (signals reach the Python process).
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    python = shlex.quote(sys.executable)
    script = shlex.quote(str(FAKE_AGENT))
    for flavor in FLAVORS:
        wrapper = bin_dir / flavor
        wrapper.write_text(
            f'#!/bin/sh\nexport FAKE_AGENT_FLAVOR={flavor}\nexec {python} {script} "$@"\n',
            encoding="utf-8",
        )
        wrapper.chmod(0o755)
    return bin_dir


# Loop timings that keep tests quick (the product's defaults are seconds to minutes).
QUICK_DEFAULTS: dict[str, object] = {
    "agent": "claude",
    "restart_delay": "50ms",
    "child_poll_interval": "100ms",
    "stop_grace_period": "2s",
    "heartbeat_interval": "1s",
}


def fake_agents_config_text(
    bin_dir: Path,
    *,
    agents: tuple[str, ...] = FLAVORS,
    token: str | None = FAKE_TOKEN,
    token_file: Path | None = None,
    **defaults: object,
) -> str:
    """A config naming the fakes installed in ``bin_dir`` by absolute path, with
    ``QUICK_DEFAULTS`` (``defaults`` win). ``token_file`` names a given file for every
    agent; else ``token`` goes into ``bin_dir/token-<flavour>`` files named by
    ``token_file``: an inline token is not passed to agents, so an agent could not start
    a child run of another flavour with one."""
    lines = ["agents:"]
    for flavor in agents:
        lines += [f"  {flavor}:", f"    type: {flavor}", f"    command: {bin_dir / flavor}"]
        if token_file is not None:
            lines.append(f"    token_file: {token_file}")
        elif token:
            flavor_token = bin_dir / f"token-{flavor}"
            flavor_token.write_text(token + "\n", encoding="utf-8")
            flavor_token.chmod(0o600)
            lines.append(f"    token_file: {flavor_token}")
    lines.append("defaults:")
    lines += [f"  {key}: {value}" for key, value in (QUICK_DEFAULTS | defaults).items()]
    return "\n".join(lines) + "\n"
