"""Who may use the server: secure defaults in the manner of Jupyter.

- Bound to loopback (the default, 127.0.0.1), no key is needed: only this machine can
  connect, and the request guard keeps other web pages out.
- Bound wider, the server always has a key: the one given (``api.api_key``,
  ``api.api_key_file``, ``$CONDUCTOR_API_KEY``), else one generated at first start and
  stored owner-only in the state directory (``<state dir>/api-key``), reused on every
  later start and by every replica that shares the state directory.
- ``--insecure`` (``api.insecure: true``) is the only way to serve a wider bind with no
  key, and the server says so in a warning on every start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from conductor_loop.config.models import ApiConfig
from conductor_loop.errors import ConfigError
from conductor_loop.hosts import is_loopback
from conductor_loop.storage.state import ensure_private_dir

API_KEY_FILE = "api-key"


def api_key_path(state_dir: Path) -> Path:
    return state_dir / API_KEY_FILE


def read_generated_key(state_dir: Path) -> str | None:
    """The key generated earlier in ``state_dir``, or None when there is none (yet)."""
    path = api_key_path(state_dir)
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ConfigError(
            f"cannot read the generated API key {str(path)!r}: {exc.strerror or exc}"
        ) from None
    if not key:
        raise ConfigError(
            f"the generated API key file {str(path)!r} is empty; delete it and start the "
            "server again to generate a new key"
        )
    return key


def load_or_create_key(state_dir: Path) -> tuple[str, bool]:
    """The generated key in ``state_dir``, creating it (0600) if needed: (key, created).

    The new file is written under a temporary name and hard-linked into place, so that
    of several replicas starting at once exactly one key wins and all of them use it.
    """
    existing = read_generated_key(state_dir)
    if existing is not None:
        _tighten(api_key_path(state_dir))
        return existing, False
    try:
        ensure_private_dir(state_dir)
        key = secrets.token_urlsafe(32)
        temp = state_dir / f".{API_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(key + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temp, api_key_path(state_dir))
            except FileExistsError:
                return read_generated_key(state_dir) or key, False
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
    except OSError as exc:
        raise ConfigError(
            f"cannot store a generated API key in {str(state_dir)!r} "
            f"({exc.strerror or exc}); give one with api.api_key_file or CONDUCTOR_API_KEY, "
            "set storage.state_dir to a writable directory, or bind to 127.0.0.1"
        ) from None
    return key, True


def _tighten(path: Path) -> None:
    """A key file others can read is made owner-only again."""
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)


@dataclass(frozen=True, slots=True)
class ServerAccess:
    """How the server authenticates: the key (None: open) and where it came from."""

    api_key: str | None
    source: str  # "config", "generated", "loopback" or "insecure"
    key_file: Path | None = None
    created: bool = False  # the key was generated at this start


def resolve_access(api: ApiConfig, bound_host: str, state_dir: Path) -> ServerAccess:
    given = api.resolve_api_key()
    if given:
        return ServerAccess(given, "config")
    if is_loopback(bound_host):
        return ServerAccess(None, "loopback")
    if api.insecure:
        return ServerAccess(None, "insecure")
    key, created = load_or_create_key(state_dir)
    return ServerAccess(key, "generated", api_key_path(state_dir), created)


def base_url(api: ApiConfig, bound_host: str, bound_port: int) -> str:
    """The URL people open: ``api.public_url``, else the bound address (loopback for any)."""
    if api.public_url:
        return api.public_url.rstrip("/")
    host = "127.0.0.1" if bound_host in ("0.0.0.0", "::", "") else bound_host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{bound_port}"


def login_url(base: str, key: str) -> str:
    """The UI with the key in the fragment: browsers never send a fragment to a server,
    so the key stays out of access logs and proxies; the UI keeps it and drops it."""
    return f"{base}/ui/#key={key}"
