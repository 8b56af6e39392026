"""Fixtures for the real-agent tests: the real ``claude``, ``codex`` and ``gemini`` CLIs
from npm, each talking to our scripted fake model server (``tests.fakes.fake_model_servers``).

These tests are opt-in, like the container and browser tests: a plain ``pytest`` leaves
them out; they run with ``-m real_agents``, when ``tests/agents`` is named on the command
line, or with ``CONDUCTOR_AGENT_TESTS=1`` (``make agents-test`` installs the CLIs, then
does the first). Once asked for, CLIs that are not installed are a loud failure, never a
skip: ``scripts/install-agent-clis.sh`` installs the pinned versions into a cache outside
the repository (``CONDUCTOR_AGENT_CLIS_DIR`` names another folder).

Each test gets its own runs root, throw-away ``HOME`` (under pytest's private temp
folder: gemini refuses settings in a world-writable one), task folder and fake server.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.agents.helpers import REPO, SESSION_ENV, AgentRig
from tests.support import suite_requested

HERE = Path(__file__).resolve().parent
INSTALL_SCRIPT = REPO / "scripts" / "install-agent-clis.sh"


def _asked_for(config: pytest.Config) -> bool:
    return suite_requested(config, HERE, "real_agents", "CONDUCTOR_AGENT_TESTS")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Not asked for: the test modules are not even collected."""
    if collection_path.name.startswith("test_") and HERE in collection_path.parents:
        return not _asked_for(config) or None
    return None


@pytest.fixture(scope="session")
def agent_bin() -> Path:
    """The folder holding the installed pinned CLIs; fails loudly when they are missing."""
    done = subprocess.run(
        ["bash", str(INSTALL_SCRIPT), "--check"],
        env=SESSION_ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(done.stderr.strip() or "install-agent-clis.sh --check failed", pytrace=False)
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def rig(tmp_path: Path, agent_bin: Path, run_agent_exe: Path) -> AgentRig:
    return AgentRig.create(tmp_path, agent_bin, run_agent_exe)
