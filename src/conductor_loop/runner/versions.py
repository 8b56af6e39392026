"""Agent versions (``<cli> --version``), cached per executable so that each run does not
pay for starting the CLI twice. The probing itself is ``agents.registry.probe_version``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from conductor_loop.agents.base import CliBackend
from conductor_loop.errors import AgentError
from conductor_loop.storage.atomic import atomic_write_text

CACHE_FILE = ".cache/agent-versions.json"


def _cache_key(backend: CliBackend) -> str | None:
    executable = shutil.which(os.path.expanduser(backend.executable))
    if executable is None:
        return None
    try:
        stat = os.stat(executable)
    except OSError:
        return None
    return f"{os.path.realpath(executable)}:{stat.st_mtime_ns}:{stat.st_size}"


def cached_version(backend: CliBackend, root: Path) -> str:
    """The agent's version line ("" when it cannot be had), cached under ``root``."""
    from conductor_loop.agents.registry import probe_version

    key = _cache_key(backend)
    cache_path = root / CACHE_FILE
    cache: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(cache_path.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            cache = loaded
    if key is not None and key in cache:
        return str(cache[key])
    try:
        version = probe_version(backend)
    except AgentError:
        return ""
    if key is not None:
        cache[key] = version
        with contextlib.suppress(OSError):
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(cache_path, json.dumps(cache, indent=1), fsync=False)
    return version
