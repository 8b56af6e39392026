"""The image and the Compose file on their own: none of these needs the API server."""

from __future__ import annotations

import re
import shutil
import time

import pytest
import yaml

from conductor_loop import __version__
from tests.docker.helpers import (
    COMPOSE_FILE,
    REPO,
    SERVER_UID,
    base_image,
    docker,
    image_size,
    inspect,
    record_figure,
    run,
)

pytestmark = pytest.mark.docker

MAX_IMAGE_BYTES = 500_000_000  # Docker reports sizes in SI units


def test_build(conductor_image: str) -> None:
    size = image_size(conductor_image)
    record_figure("image_size_mb", size / 1e6)
    base = base_image()
    if docker("image", "inspect", base, check=False).returncode == 0:
        record_figure("image_base", base)
        record_figure("image_added_over_base_mb", (size - image_size(base)) / 1e6)
    assert size < MAX_IMAGE_BYTES, f"image is {size / 1e6:.0f} MB, over 500 MB"

    conductor = docker("run", "--rm", conductor_image, "conductor", "--version").stdout
    assert __version__ in conductor
    run_agent = docker("run", "--rm", conductor_image, "run-agent", "--version").stdout
    assert __version__ in run_agent

    assert docker("run", "--rm", conductor_image, "id", "-u").stdout.strip() == str(SERVER_UID)
    owners = docker("run", "--rm", conductor_image, "stat", "-c", "%u %n", "/data", "/data/runs")
    assert owners.stdout.split() == [str(SERVER_UID), "/data", str(SERVER_UID), "/data/runs"]


def test_image_carries_the_built_ui_when_there_is_a_frontend(conductor_image: str) -> None:
    has_frontend = (REPO / "frontend" / "package.json").is_file()
    probe = (
        "import pathlib, conductor_loop.web as w; "
        "print((pathlib.Path(w.__file__).parent / 'dist' / 'index.html').is_file())"
    )
    found = docker("run", "--rm", conductor_image, "python3", "-c", probe).stdout.strip()
    assert found == str(has_frontend), f"frontend present: {has_frontend}, UI in image: {found}"


def test_image_settings(conductor_image: str) -> None:
    config = inspect(conductor_image)["Config"]
    assert config["User"] == f"{SERVER_UID}:{SERVER_UID}"
    assert config["WorkingDir"] == "/data"
    assert "14355/tcp" in config["ExposedPorts"]
    assert config["Cmd"] == ["conductor"]
    assert config["Entrypoint"][0] == "conductor-init"
    health = config["Healthcheck"]
    assert "/api/v1/health" in " ".join(health["Test"])
    assert health["Interval"] == 30_000_000_000 and health["Timeout"] == 3_000_000_000
    assert health["StartPeriod"] == 5_000_000_000 and health["Retries"] == 3
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["CONDUCTOR_CONFIG"] == "/data/config/config.yaml"
    assert env["CONDUCTOR_ROOT"] == "/data/runs"
    secretish = [name for name in env if re.search(r"TOKEN|API_KEY|SECRET", name)]
    assert not secretish, f"credentials must come from token_file, not ENV: {secretish}"


def test_pid1_forwards_sigterm_and_stops_leftovers(conductor_image: str) -> None:
    """docker stop: PID 1 passes SIGTERM on, then stops the processes left behind."""
    program = (
        "import signal, subprocess, sys, time\n"
        "orphan = (\n"
        "    'import signal, sys, time\\n'\n"
        "    'def stop(*_):\\n'\n"
        "    '    print(\"orphan: got SIGTERM\", flush=True); sys.exit(0)\\n'\n"
        "    'signal.signal(signal.SIGTERM, stop)\\n'\n"
        "    'time.sleep(600)\\n'\n"
        ")\n"
        "subprocess.Popen([sys.executable, '-c', orphan], start_new_session=True)\n"
        "for _ in range(3):\n"
        "    subprocess.run(['sh', '-c', 'sleep 0.1 &'])  # leaves orphans to reap\n"
        "def stop(*_):\n"
        "    print('main: got SIGTERM', flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('main: ready', flush=True)\n"
        "while True:\n"
        "    time.sleep(1)\n"
    )
    container = docker("run", "-d", conductor_image, "python3", "-c", program).stdout.strip()
    try:
        deadline = time.monotonic() + 30
        while "main: ready" not in docker("logs", container).stdout:
            assert time.monotonic() < deadline, "the test program did not start"
            time.sleep(0.2)
        time.sleep(1)  # the `sleep 0.1` orphans have ended by now
        pid1 = docker("exec", container, "cat", "/proc/1/cmdline").stdout
        assert "conductor-init" in pid1.replace("\0", " ")
        states = docker(
            "exec", container, "python3", "-c",
            "import glob; print(' '.join(open(p).read().rsplit(')', 1)[1].split()[0] "
            "for p in glob.glob('/proc/[0-9]*/stat')))",
        ).stdout.split()  # fmt: skip
        assert "Z" not in states, f"zombies left unreaped: {states}"

        docker("stop", "-t", "30", container, timeout=60)
        state = inspect(container)["State"]
        logs = docker("logs", container)
    finally:
        docker("rm", "-f", container, check=False)
    # Both would sleep on: 0 (not 137, docker's SIGKILL after 30 s) means PID 1 ended them.
    assert state["ExitCode"] == 0 and not state["OOMKilled"], state
    assert "main: got SIGTERM" in logs.stdout
    assert "orphan: got SIGTERM" in logs.stdout
    assert "received SIGTERM; stopping" in logs.stderr
    assert "killing them" not in logs.stderr  # the SIGTERM sufficed: no SIGKILL after the grace


def test_exit_status_of_the_command_is_the_container_s(conductor_image: str) -> None:
    done = docker("run", "--rm", conductor_image, "sh", "-c", "exit 3", check=False)
    assert done.returncode == 3


def _compose_file() -> dict:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_compose_file_shape() -> None:
    data = _compose_file()
    assert "name" not in data and "version" not in data, "keep it valid for Compose v1 and v2"
    services = data["services"]
    assert set(services) == {"conductor", "frontend"}
    for name, service in services.items():
        assert "container_name" not in service, f"{name}: stacks run side by side"
    conductor = services["conductor"]
    assert conductor["restart"] == "unless-stopped"
    assert conductor["networks"] == ["conductor-net"]
    assert conductor["image"] == "${CONDUCTOR_IMAGE:-conductor-loop:latest}"
    # Published on loopback unless the user widens it (issue 10, H1).
    assert conductor["ports"] == [
        "${CONDUCTOR_BIND:-127.0.0.1}:${CONDUCTOR_HOST_PORT:-14355}:14355"
    ]
    assert "CONDUCTOR_CONFIG=/data/config/config.yaml" in conductor["environment"]
    volumes = conductor["volumes"]
    assert "${CONDUCTOR_DATA_DIR:-./data/runs}:/data/runs" in volumes
    assert "conductor-state:/data/state" in volumes  # the generated key, outside the runs
    assert "conductor-state" in data["volumes"]
    assert any(v.endswith(":/data/config/config.yaml:ro") for v in volumes)
    assert "/api/v1/health" in " ".join(conductor["healthcheck"]["test"])
    assert "stop_grace_period" in conductor
    frontend = services["frontend"]
    assert frontend["profiles"] == ["ui-dev"]
    assert frontend["depends_on"] == ["conductor"]
    assert frontend["ports"] == ["${CONDUCTOR_BIND:-127.0.0.1}:${CONDUCTOR_UI_PORT:-3000}:3000"]
    assert data["networks"]["conductor-net"]["driver"] == "bridge"


def test_compose_file_is_valid_for_each_installed_compose(compose_cmd: list[str]) -> None:
    env = {"CONDUCTOR_IMAGE": "conductor-loop:pytest"}
    checked = []
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) is None:
            continue
        if run([*cmd, "version"], check=False, timeout=30).returncode != 0:
            continue
        done = run([*cmd, "-f", str(COMPOSE_FILE), "config", "-q"], check=False, env=env)
        assert done.returncode == 0, f"{' '.join(cmd)} config: {done.stderr}"
        checked.append(" ".join(cmd))
    assert checked, "no Compose found"
    record_figure("compose_validated_with", ", ".join(checked))


def test_config_docker_yaml_is_a_valid_config() -> None:
    from conductor_loop.config.loader import parse_config

    config = parse_config((REPO / "config.docker.yaml").read_text(encoding="utf-8"))
    assert config.api.host == "0.0.0.0" and config.api.port == 14355
    assert config.api.cors_origins == ["http://localhost:3000"]
    assert config.storage.runs_dir == "/data/runs"
    for name, agent in config.agents.items():
        assert agent.token is None, f"{name}: tokens only via token_file"
        assert (agent.token_file or "").startswith("/secrets/"), name


def test_pid1_kills_leftovers_that_ignore_sigterm_after_the_grace(conductor_image: str) -> None:
    program = (
        "import signal, subprocess, sys, time\n"
        "stubborn = 'import signal, time\\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
        "time.sleep(600)\\n'\n"
        "subprocess.Popen([sys.executable, '-c', stubborn], start_new_session=True)\n"
        "print('main: ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    container = docker(
        "run", "-d", "-e", "CONDUCTOR_INIT_GRACE=2", conductor_image, "python3", "-c", program
    ).stdout.strip()  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "main: ready" not in docker("logs", container).stdout:
            assert time.monotonic() < deadline, "the test program did not start"
            time.sleep(0.2)
        docker("stop", "-t", "30", container, timeout=60)
        state = inspect(container)["State"]
        logs = docker("logs", container)
    finally:
        docker("rm", "-f", container, check=False)
    # 0, not 137: PID 1 itself killed the leftover that ignores SIGTERM (it would sleep
    # 600 s), before docker's own SIGKILL at 30 s; first asked, then killed after its grace.
    assert state["ExitCode"] == 0 and not state["OOMKilled"], state
    asked = logs.stderr.find("asking the remaining processes to stop")
    killed = logs.stderr.find("processes still running after 2s; killing them")
    assert 0 <= asked < killed, logs.stderr
