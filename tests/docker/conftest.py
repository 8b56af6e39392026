"""Fixtures for the container tests: the image (built once), and one Compose stack per test.

These tests are opt-in: a plain ``pytest`` deselects them, and they run when asked for
with ``-m docker``, by naming ``tests/docker`` on the command line, or with
``CONDUCTOR_DOCKER_TESTS=1`` (``make docker-test`` does the first). Once asked for, a
missing engine or Compose is a loud failure, never a skip: run
``scripts/docker-setup.sh`` first (it also builds the stand-in base images that
``scripts/docker-env.sh`` names, on machines with no registry).

Images: ``conductor_image`` builds the repository's Dockerfile (or takes the tag in
``CONDUCTOR_TEST_IMAGE``, built beforehand, as CI does); ``agent_image`` adds a layer
with ``tests/fakes/fake_agent.py`` installed as ``claude``, so tasks really run in the
container. Every test that starts containers gets its own Compose project name, host
port, data dir, config and token file, all removed afterwards, pass or fail.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docker.helpers import (
    ARTIFACTS,
    REPO,
    SESSION_ENV,
    SESSION_FIGURES,
    DockerError,
    Stack,
    docker,
    find_compose,
    free_port,
    new_project_name,
    record_figure,
    remove_tree,
    server_writable_dir,
    stack_config_text,
)
from tests.support import suite_requested

HERE = Path(__file__).resolve().parent
FAKE_AGENT = REPO / "tests" / "fakes" / "fake_agent.py"
IMAGE_TAG = "conductor-loop:pytest"
AGENT_IMAGE_TAG = "conductor-loop:pytest-agent"
LB_IMAGE_TAG = "conductor-loop-lb:pytest"
RAY_IMAGE_TAG = "conductor-loop:pytest-ray"
RAY_AGENT_IMAGE_TAG = "conductor-loop:pytest-ray-agent"


def _asked_for(config: pytest.Config) -> bool:
    return suite_requested(config, HERE, "docker", "CONDUCTOR_DOCKER_TESTS")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _asked_for(config):
        return
    ours = [item for item in items if HERE in Path(str(item.path)).parents]
    if ours:
        config.hook.pytest_deselected(items=ours)
        items[:] = [item for item in items if item not in ours]


@pytest.fixture(scope="session")
def compose_cmd() -> list[str]:
    """The Compose CLI, after checking that the engine answers: fails loudly, never skips."""
    info = docker("info", "-f", "{{.ServerVersion}}", check=False, timeout=30)
    if info.returncode != 0:
        pytest.fail(
            "no Docker engine answers `docker info` "
            f"({(info.stderr or info.stdout).strip()[:300]}); run scripts/docker-setup.sh",
            pytrace=False,
        )
    cmd = find_compose()
    if cmd is None:
        pytest.fail(
            "neither `docker compose` nor `docker-compose` works; run scripts/docker-setup.sh",
            pytrace=False,
        )
    record_figure("engine_version", info.stdout.strip())
    record_figure("compose", " ".join(cmd))
    return cmd


def _build_args() -> list[str]:
    args = []
    for env_name, arg in (
        ("CONDUCTOR_PYTHON_IMAGE", "PYTHON_IMAGE"),
        ("CONDUCTOR_NODE_IMAGE", "NODE_IMAGE"),
    ):
        value = SESSION_ENV.get(env_name, "")
        if value:
            args += ["--build-arg", f"{arg}={value}"]
    return args


def _build_image(tag: str, *extra_args: str, log_name: str = "build.log") -> float:
    """``docker build`` of the repository's Dockerfile; fails the test with its output."""
    started = time.monotonic()
    done = docker(
        "build", "--force-rm", "-t", tag, *_build_args(), *extra_args, str(REPO),
        check=False, timeout=1200,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / log_name).write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        pytest.fail(
            f"docker build failed (exit {done.returncode}); end of its output:\n"
            f"{(done.stdout + done.stderr)[-6000:]}",
            pytrace=False,
        )
    return elapsed


@pytest.fixture(scope="session")
def conductor_image(compose_cmd: list[str]) -> str:
    """The image from the repository's Dockerfile, built once per session."""
    prebuilt = SESSION_ENV.get("CONDUCTOR_TEST_IMAGE", "")
    if prebuilt:
        docker("image", "inspect", prebuilt)
        return prebuilt
    record_figure("image_build_seconds", _build_image(IMAGE_TAG))
    return IMAGE_TAG


def _with_fake_agent(base: str, tag: str, context: Path) -> str:
    """``base`` plus the stand-in agent as ``claude`` (prints claude stream-json)."""
    assert FAKE_AGENT.is_file(), f"{FAKE_AGENT} is missing"
    shutil.copy(FAKE_AGENT, context / "claude")
    (context / "Dockerfile").write_text(
        "ARG BASE\n"
        "FROM ${BASE}\n"
        "USER 0\n"
        "COPY claude /usr/local/bin/claude\n"
        "RUN chmod 755 /usr/local/bin/claude && claude --version\n"
        "USER 10001:10001\n",
        encoding="utf-8",
    )
    docker("build", "-t", tag, "--build-arg", f"BASE={base}", str(context), timeout=300)
    return tag


@pytest.fixture(scope="session")
def agent_image(conductor_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """conductor_image plus the stand-in agent as ``claude`` (prints claude stream-json)."""
    return _with_fake_agent(conductor_image, AGENT_IMAGE_TAG, tmp_path_factory.mktemp("agent"))


@pytest.fixture(scope="session")
def ray_image(compose_cmd: list[str]) -> str:
    """The image built with ``WITH_RAY=1`` (the ``ray`` extra), once per session; or the
    tag in ``CONDUCTOR_TEST_RAY_IMAGE``, built beforehand."""
    prebuilt = SESSION_ENV.get("CONDUCTOR_TEST_RAY_IMAGE", "")
    if prebuilt:
        docker("image", "inspect", prebuilt)
        return prebuilt
    elapsed = _build_image(RAY_IMAGE_TAG, "--build-arg", "WITH_RAY=1", log_name="build-ray.log")
    record_figure("ray_image_build_seconds", elapsed)
    return RAY_IMAGE_TAG


@pytest.fixture(scope="session")
def ray_agent_image(ray_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """ray_image plus the stand-in agent as ``claude``: the Ray worker nodes' image."""
    context = tmp_path_factory.mktemp("ray-agent")
    return _with_fake_agent(ray_image, RAY_AGENT_IMAGE_TAG, context)


def _noise(log_line: str) -> bool:
    """Access-log lines of health checks and of successful message posts (there may be
    thousands), from the server or the balancer."""
    return '"GET /api/v1/health' in log_line or bool(
        re.search(r'/messages(" | HTTP/1\.1" )201 ', log_line)
    )


@contextlib.contextmanager
def open_stack(compose_cmd: list[str], image: str) -> Iterator[Stack]:
    """A Compose project of its own (not started): name, port, data dir, config, token.

    Afterwards (pass or fail) its logs are printed, ``down -v`` removes its containers,
    networks and volumes, and its temp dir goes.
    """
    workdir = Path(tempfile.mkdtemp(prefix="conductor-docker-"))
    os.chmod(workdir, 0o755)
    the_stack = Stack(
        compose_cmd=compose_cmd,
        image=image,
        project=new_project_name(),
        port=free_port(),
        workdir=workdir,
        token=f"sk-test-{uuid.uuid4().hex}",
    )
    server_writable_dir(the_stack.data_dir)
    the_stack.config_path.write_text(stack_config_text(REPO / "config.docker.yaml"), "utf-8")
    the_stack.secrets_dir.mkdir()
    token_file = the_stack.secrets_dir / "claude.token"
    token_file.write_text(the_stack.token + "\n", encoding="utf-8")
    token_file.chmod(0o644)
    try:
        yield the_stack
    finally:
        the_stack.close()
        # Shown with the test's report when it failed.
        logs = "\n".join(line for line in the_stack.logs().splitlines() if not _noise(line))
        print(
            f"--- logs of compose project {the_stack.project} "
            "(health checks and successful message posts left out):"
        )
        print(logs[-12000:])
        the_stack.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
        for cleanup in reversed(the_stack.cleanups):
            try:
                cleanup()
            except DockerError as exc:
                print(f"cleanup failed: {exc}")
        remove_tree(workdir, image)


@pytest.fixture
def stack(compose_cmd: list[str], agent_image: str) -> Iterator[Stack]:
    """A Compose project of its own (not started): name, port, data dir, config, token."""
    with open_stack(compose_cmd, agent_image) as the_stack:
        yield the_stack


@pytest.fixture(scope="session")
def lb_image(compose_cmd: list[str]) -> str:
    """The load balancer of docker-compose.replicas.yml (docker/lb), built once per session."""
    prebuilt = SESSION_ENV.get("CONDUCTOR_TEST_LB_IMAGE", "")
    if prebuilt:
        docker("image", "inspect", prebuilt)
        return prebuilt
    python_image = SESSION_ENV.get("CONDUCTOR_PYTHON_IMAGE", "")
    args = ["--build-arg", f"PYTHON_IMAGE={python_image}"] if python_image else []
    started = time.monotonic()
    done = docker(
        "build", "--force-rm", "-t", LB_IMAGE_TAG, *args, str(REPO / "docker" / "lb"),
        check=False, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(
            f"docker build of docker/lb failed (exit {done.returncode}); end of its output:\n"
            f"{(done.stdout + done.stderr)[-6000:]}",
            pytrace=False,
        )
    record_figure("lb_image_build_seconds", time.monotonic() - started)
    return LB_IMAGE_TAG


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SESSION_FIGURES:
        terminalreporter.section("container figures")
        for name, value in sorted(SESSION_FIGURES.items()):
            terminalreporter.write_line(f"{name}: {value}")
