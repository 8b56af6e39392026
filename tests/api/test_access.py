"""Secure defaults (issue 10, H1): loopback bind, a key for every wider bind, --insecure.

Each test starts the real ``conductor`` the way a user does and talks to it over
loopback. A wide bind (0.0.0.0) is reached through 127.0.0.1, as a user on the same
machine would.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from conductor_loop.api.access import API_KEY_FILE
from conductor_loop.config.models import ApiConfig
from conductor_loop.hosts import is_loopback
from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import VENV_BIN, ServerFactory, server_env, write_config

LOGIN_URL = re.compile(r"http://127\.0\.0\.1:(\d+)/ui/#key=([A-Za-z0-9_\-]+)")


def state_env(state_dir: Path) -> dict[str, str]:
    return server_env(CONDUCTOR_STATE_DIR=str(state_dir))


def test_the_default_bind_is_loopback(server_factory: ServerFactory) -> None:
    assert ApiConfig().host == "127.0.0.1"
    server = server_factory(host=None)  # no --host, no api: section
    assert "listening on http://127.0.0.1:" in server.log_text()
    # Loopback needs no key: only this machine can connect.
    assert server.client().get("/api/v1/status").status_code == 200


def test_a_wide_bind_generates_a_key_once_and_reuses_it(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    env = state_env(state_dir)
    first = server_factory(host="0.0.0.0", env=env)
    key_file = state_dir / API_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    key = key_file.read_text(encoding="utf-8").strip()
    assert len(key) >= 32

    # The login URL is printed once, with the key in the fragment (never sent to a server).
    urls = LOGIN_URL.findall(first.log_text())
    assert [found_key for _port, found_key in urls] == [key]
    client = first.client()
    refused = client.get("/api/v1/status")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    assert (
        client.get("/api/v1/status", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    )
    assert client.get("/api/v1/status", headers={"X-API-Key": key}).status_code == 200
    assert client.get("/api/v1/health").status_code == 200  # the container health check
    first.stop()

    second = server_factory(host="0.0.0.0", env=env, name="second")
    assert key_file.read_text(encoding="utf-8").strip() == key  # reused, not replaced
    assert not LOGIN_URL.search(second.log_text())  # the key itself is not logged again
    assert str(key_file) in second.log_text()  # but where it is, and how to see it
    assert "conductor key" in second.log_text()
    assert second.client().get("/api/v1/status").status_code == 401
    ok = second.client().get("/api/v1/status", headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 200

    # `conductor key` shows the login URL again; `conductor client` commands use the key.
    shown = subprocess.run(
        [str(VENV_BIN / "conductor"), "key", "--config", str(second.config_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip().endswith(f"/ui/#key={key}")
    raw = subprocess.run(
        [str(VENV_BIN / "conductor"), "key", "--raw", "--config", str(second.config_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert raw.stdout.strip() == key
    status = subprocess.run(
        [str(VENV_BIN / "conductor"), "status", "--server", second.url],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert "active runs" in status.stdout


def test_a_wide_bind_refuses_to_start_open_when_it_cannot_store_a_key(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    root = tmp_path / "runs"
    root.mkdir()
    config = write_config(tmp_path / "config.yaml")
    done = subprocess.run(
        [
            str(VENV_BIN / "conductor"),
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--root",
            str(root),
            "--config",
            str(config),
        ],
        env=state_env(blocker / "state"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "listening" not in done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("error: cannot store a generated API key"), done.stderr
    assert "api.api_key_file" in message and "127.0.0.1" in message
    assert "Traceback" not in done.stderr


def test_insecure_serves_open_and_warns_on_every_start(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    env = state_env(tmp_path / "state")
    for name in ("first", "second"):
        server = server_factory(host="0.0.0.0", env=env, args=("--insecure",), name=name)
        assert "NO API KEY (--insecure)" in server.log_text()
        assert server.client().get("/api/v1/status").status_code == 200
        server.stop()
    assert not (tmp_path / "state" / API_KEY_FILE).exists()


def test_insecure_in_the_config_file(server_factory: ServerFactory, tmp_path: Path) -> None:
    server = server_factory(
        "api:\n  insecure: true\n", host="0.0.0.0", env=state_env(tmp_path / "state")
    )
    assert "NO API KEY" in server.log_text()


def test_a_configured_key_is_used_and_none_is_generated(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    key_file = tmp_path / "given.key"
    key_file.write_text("given-key-0123456789\n", encoding="utf-8")
    server = server_factory(
        f"api:\n  api_key_file: {key_file}\n", host="0.0.0.0", env=state_env(tmp_path / "state")
    )
    assert not (tmp_path / "state" / API_KEY_FILE).exists()
    assert "given-key-0123456789" not in server.log_text()
    client = server.client()
    assert client.get("/api/v1/status").status_code == 401
    ok = client.get("/api/v1/status", headers={"X-API-Key": "given-key-0123456789"})
    assert ok.status_code == 200


def test_a_key_file_others_can_read_is_made_owner_only(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    (state_dir / API_KEY_FILE).write_text("an-old-generated-key-0123456789\n", encoding="utf-8")
    os.chmod(state_dir / API_KEY_FILE, 0o644)
    server = server_factory(host="0.0.0.0", env=state_env(state_dir))
    assert stat.S_IMODE((state_dir / API_KEY_FILE).stat().st_mode) == 0o600
    ok = server.client().get(
        "/api/v1/status", headers={"X-API-Key": "an-old-generated-key-0123456789"}
    )
    assert ok.status_code == 200


def test_the_state_dir_may_not_be_inside_the_runs_root(tmp_path: Path) -> None:
    root = RunsRoot.at(tmp_path / "runs")
    root.path.mkdir()
    done = subprocess.run(
        [str(VENV_BIN / "conductor"), "--port", "0", "--root", str(root.path)],
        env=state_env(root.path / ".state"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "is inside the runs root" in done.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
