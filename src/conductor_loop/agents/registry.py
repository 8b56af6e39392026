"""Which class serves which ``type:`` of agent, and whether a configured agent can run.

Adding a backend is one module plus one entry in ``_BACKENDS``. Backend modules are
imported on first use, so starting a CLI agent never pays for the HTTP stack.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import signal
import subprocess
import tempfile
from typing import NamedTuple

from conductor_loop.agents.base import Backend, CliBackend
from conductor_loop.config.models import AgentConfig
from conductor_loop.errors import AgentError, ConfigError

_BACKENDS: dict[str, str] = {
    "claude": "conductor_loop.agents.claude:ClaudeBackend",
    "codex": "conductor_loop.agents.codex:CodexBackend",
    "gemini": "conductor_loop.agents.gemini:GeminiBackend",
    "perplexity": "conductor_loop.agents.perplexity:PerplexityBackend",
    "xai": "conductor_loop.agents.xai:XaiBackend",
}


def _backend_class(agent_type: str) -> type[Backend]:
    module_name, _, class_name = _BACKENDS[agent_type].partition(":")
    backend_class: type[Backend] = getattr(importlib.import_module(module_name), class_name)
    return backend_class


# gemini --version alone takes 2.5-3.5 s on a busy 2-core machine; a Node CLI started for
# the first time after an install took 19 s on a CI machine running other tests
VERSION_TIMEOUT = 30.0
INLINE_TOKEN_NOTE = (
    "inline: not passed to agents, so only runs of this agent can start child runs of it;"
    " use token_file"
)


def backend_types() -> list[str]:
    """The ``type:`` values a configuration may use."""
    return sorted(_BACKENDS)


def backend_for(name: str, config: AgentConfig) -> Backend:
    """The backend that runs agent ``name`` configured as ``config``."""
    try:
        backend_class = _backend_class(config.type)
    except KeyError:
        known = ", ".join(backend_types())
        raise AgentError(f"agent {name}: unknown type {config.type!r} (known: {known})") from None
    return backend_class(name, config)


class Usability(NamedTuple):
    """``run-agent validate``'s verdict on one agent.

    ``endpoint``: the API it talks to (``base_url``, the REST default, or "the CLI's
    default"); ``auth``: "token", or "cli-login" for a CLI agent without a token, which
    then uses the CLI's own login (fine when you logged in with it).
    """

    ok: bool
    reason: str
    version: str | None = None
    endpoint: str | None = None
    auth: str | None = None


CLI_DEFAULT_ENDPOINT = "the CLI's default"


def usable(name: str, config: AgentConfig) -> Usability:
    """Whether agent ``name`` can run here, why not, and its version when it is a CLI.

    A CLI needs its executable (``command`` or the default name) on PATH answering
    ``--version``. A REST agent needs a token, from its config or from its token
    variable in this process's environment (which the agent inherits); a CLI agent
    without one uses the CLI's own login, except where a ``base_url`` needs a key.
    """
    try:
        backend = backend_for(name, config)
    except AgentError as exc:
        return Usability(False, exc.message)
    version: str | None = None
    if isinstance(backend, CliBackend):
        try:
            version = probe_version(backend)
        except AgentError as exc:
            return Usability(False, exc.message)
    try:
        token_source = _token_source(backend)
        # in the config copy an agent sees, another agent's inline secrets are left out
        problem = backend.withheld_problem(backend.config.resolve_token(), os.environ)
    except ConfigError as exc:
        return Usability(False, f"agent {name}: {exc.message}", version)
    if problem:
        return Usability(False, problem, version)
    if isinstance(backend, CliBackend):
        return _cli_usability(backend, token_source, version)
    if token_source is None:
        return Usability(
            False,
            f"agent {name}: no token — set token or token_file in its config, "
            f"or export {backend.token_env_name}",
            version,
        )
    from conductor_loop.agents.openai_chat import OpenAIChatBackend

    if isinstance(backend, OpenAIChatBackend):
        problem = _base_url_problem(backend.base_url)
        if problem:
            return Usability(False, f"agent {name}: base_url {problem}", version)
        return Usability(
            True,
            f"{backend.endpoint} (model {backend.model}), token {token_source}",
            version,
            backend.endpoint,
            "token",
        )
    return Usability(True, f"{backend.type}, token {token_source}", version, None, "token")


def _cli_usability(backend: CliBackend, token_source: str | None, version: str | None) -> Usability:
    name, url = backend.name, backend.config.base_url
    if url:
        problem = _base_url_problem(url) or backend.base_url_problem(url)
        if problem:
            return Usability(False, f"agent {name}: base_url {problem}", version, url)
    endpoint = url or CLI_DEFAULT_ENDPOINT
    if token_source is None and url and backend.base_url_needs_token:
        return Usability(
            False,
            f"agent {name}: base_url {url} needs a token ({backend.type} sends it as "
            f"${backend.token_env_name}): set token or token_file in its config",
            version,
            endpoint,
        )
    where = shutil.which(os.path.expanduser(backend.executable)) or backend.executable
    model = f" (model {backend.model})" if backend.model else ""
    if token_source is None:
        login = f"{backend.login_hint}, " if backend.login_hint else ""
        return Usability(
            True,
            f"{where}, endpoint {endpoint}{model}, no token: uses {backend.type}'s own login "
            f"({login}or set token / token_file / ${backend.token_env_name})",
            version,
            endpoint,
            "cli-login",
        )
    reason = f"{where}, endpoint {endpoint}{model}, token {token_source}"
    return Usability(True, reason, version, endpoint, "token")


def probe_version(backend: CliBackend, timeout: float | None = None) -> str:
    """The first line ``<executable> --version`` prints; AgentError says why there is none.

    Waits at most ``timeout`` seconds (default ``VERSION_TIMEOUT``). A CLI that keeps its
    settings in a home of its own (``home_var``) gets a throw-away one, so that asking
    for a version leaves nothing in the user's (``gemini --version`` writes there).
    """
    timeout = VERSION_TIMEOUT if timeout is None else timeout
    executable = shutil.which(os.path.expanduser(backend.executable))
    if executable is None:
        raise AgentError(f"agent {backend.name}: {backend.executable!r} not found on PATH")
    env = {**os.environ, **backend.config.env}
    if backend.home_var is None or backend.home_var in backend.config.env:
        return _run_version(backend, executable, env, timeout)
    with tempfile.TemporaryDirectory(prefix="conductor-version-") as scratch:
        return _run_version(backend, executable, {**env, backend.home_var: scratch}, timeout)


def _run_version(backend: CliBackend, executable: str, env: dict[str, str], timeout: float) -> str:
    argv = [executable, *backend.version_argv()[1:]]
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=env,
            start_new_session=True,  # so a hung wrapper's children go down with it
        )
    except OSError as exc:
        raise AgentError(
            f"agent {backend.name}: cannot run {executable}: {exc.strerror or exc}"
        ) from None
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=1)
        process.wait()
        raise AgentError(
            f"agent {backend.name}: {executable} --version did not answer within {timeout:g}s"
        ) from None
    first_line = _first_line(stdout) or _first_line(stderr)
    if process.returncode != 0:
        detail = f": {first_line}" if first_line else ""
        raise AgentError(
            f"agent {backend.name}: {executable} --version exited {process.returncode}{detail}"
        )
    return first_line or "unknown"


def _token_source(backend: Backend) -> str | None:
    if backend.config.token is not None and backend.config.resolve_token():
        return f"from config ({INLINE_TOKEN_NOTE})"
    if backend.config.resolve_token():
        return "from config"
    variable = backend.token_env_name
    if backend.config.env.get(variable):
        return f"from env.{variable} in config"
    if os.environ.get(variable):
        return f"from ${variable}"
    return None


def _base_url_problem(url: str) -> str | None:
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        return f"{url!r} is not a URL ({exc})"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return f"{url!r} is not an http(s) URL"
    return None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""
