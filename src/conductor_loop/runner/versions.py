"""Agent versions (``<cli> --version``) for run-info, probed once per executable.

A CLI can take seconds to print its version (``gemini --version``: 2.5-3.5 s on a busy
machine), so a run never waits for it: ``VersionProbe`` asks in a thread while the
agent runs. Answers are cached in the state dir by the executable's real path, mtime
and size (an upgrade or a ``touch`` asks again), and a lock per executable makes
concurrent runs ask once, without one slow CLI holding up another's probe. A failed probe
stores nothing. The probing itself is
``agents.registry.probe_version``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from conductor_loop.agents.base import CliBackend
from conductor_loop.agents.registry import VERSION_TIMEOUT
from conductor_loop.errors import AgentError
from conductor_loop.storage.atomic import atomic_write_text
from conductor_loop.storage.locks import take_lock
from conductor_loop.storage.state import ensure_private_dir

CACHE_FILE = "agent-versions.json"
CACHE_LOCK_FILE = "agent-versions.lock"  # held only while the cache file is rewritten
LOCKS_DIR = "agent-versions.locks"  # one lock file per executable, named by its path's hash
LEGACY_CACHE = ".cache/agent-versions.json"  # under the runs root, where it looked a project
# how long a finished run waits for a version still coming: a probe, or another
# runner's probe of the same executable and then ours
FINAL_WAIT = VERSION_TIMEOUT + 5


def _identity(backend: CliBackend) -> tuple[str, dict[str, int]] | None:
    """The executable's real path and what says it changed (mtime, size); None if absent."""
    executable = shutil.which(os.path.expanduser(backend.executable))
    if executable is None:
        return None
    real = os.path.realpath(executable)
    try:
        stat = os.stat(real)
    except OSError:
        return None
    return real, {"mtime_ns": stat.st_mtime_ns, "size": stat.st_size}


def _cached(cache_path: Path, path: str, stamp: dict[str, int]) -> str | None:
    entry = _read_cache(cache_path).get(path)
    if isinstance(entry, dict) and all(entry.get(k) == v for k, v in stamp.items()):
        version = entry.get("version")
        if isinstance(version, str) and version:
            return version
    return None


def _read_cache(cache_path: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(cache_path.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            return loaded
    return {}


def cached_version(backend: CliBackend, state_dir: Path, timeout: float | None = None) -> str:
    """The agent's version line, "" when it cannot be had; cached in ``state_dir``."""
    from conductor_loop.agents.registry import probe_version

    identity = _identity(backend)
    if identity is None:
        return ""
    path, stamp = identity
    cache_path = state_dir / CACHE_FILE
    version = _cached(cache_path, path, stamp)
    if version is not None:
        return version
    locks = state_dir / LOCKS_DIR
    ensure_private_dir(locks)
    # one probe of an executable at a time (others then read its answer)
    lock_fd = take_lock(locks / hashlib.sha256(path.encode()).hexdigest()[:32])
    try:
        version = _cached(cache_path, path, stamp)
        if version is not None:
            return version
        try:
            version = probe_version(backend, timeout)
        except AgentError:
            return ""
    finally:
        os.close(lock_fd)
    _store(state_dir, path, {**stamp, "version": version})
    return version


def _store(state_dir: Path, path: str, entry: dict[str, Any]) -> None:
    """Add one executable's entry to the cache file (read, update, replace under a lock:
    probes of different executables may finish together)."""
    cache_path = state_dir / CACHE_FILE
    lock_fd = take_lock(state_dir / CACHE_LOCK_FILE)
    try:
        cache = _read_cache(cache_path)
        cache[path] = entry
        with contextlib.suppress(OSError):
            atomic_write_text(cache_path, json.dumps(cache, indent=1), fsync=False, mode=0o600)
    finally:
        os.close(lock_fd)


def remove_legacy_cache(runs_root: Path) -> None:
    """Delete the cache older versions kept under the runs root (``.cache`` is no project)."""
    legacy = runs_root / LEGACY_CACHE
    with contextlib.suppress(OSError):
        legacy.unlink()
        legacy.parent.rmdir()  # only when nothing else is in it


class VersionProbe:
    """``cached_version`` in a daemon thread, started with the run; ``version`` reads it."""

    def __init__(self, backend: CliBackend, state_dir: Path, runs_root: Path | None = None) -> None:
        self._backend = backend
        self._state_dir = state_dir
        self._runs_root = runs_root
        self._version = ""
        self._done = threading.Event()
        threading.Thread(target=self._probe, name="version-probe", daemon=True).start()

    def _probe(self) -> None:
        try:
            if self._runs_root is not None:
                remove_legacy_cache(self._runs_root)
            self._version = cached_version(self._backend, self._state_dir)
        except Exception:  # a version is never worth failing a run for
            self._version = ""
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        """Whether the probe has finished (with a version or without one)."""
        return self._done.is_set()

    def version(self, wait: float = 0.0) -> str:
        """The version once known ("" until then, or when there is none), waiting at most
        ``wait`` seconds for it."""
        if wait > 0:
            self._done.wait(wait)
        return self._version if self._done.is_set() else ""
