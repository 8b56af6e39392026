"""Fixtures for API tests (helpers in ``helpers.py``).

``server_factory`` starts real ``conductor`` processes and stops them at teardown;
``seeded_server`` is one module-wide server over a runs root with finished runs, for
read-mostly tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import (
    ServerFactory,
    ServerProcess,
    seed_run,
    start_server,
    write_config,
)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """``start(config_text="", root=None, env=None, **start_server_options)`` → a running
    server, stopped at teardown."""
    started: list[ServerProcess] = []

    def start(
        config_text: str = "",
        *,
        root: RunsRoot | None = None,
        env: dict[str, str] | None = None,
        name: str = "server",
        **options: Any,
    ) -> ServerProcess:
        runs_root = root or RunsRoot.at(tmp_path / "runs")
        runs_root.path.mkdir(parents=True, exist_ok=True)
        config_path = tmp_path / f"{name}-config.yaml"
        if config_text or not config_path.exists():
            write_config(config_path, config_text)
        index = len(started)
        log_path = tmp_path / f"{name}-{index}.log"
        server = start_server(runs_root, config_path, log_path, env=env, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.kill()


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server over two projects with finished runs (module-wide, read-mostly)."""
    tmp = tmp_path_factory.mktemp("seeded")
    root = RunsRoot.at(tmp / "runs")
    root.path.mkdir()
    for project in ("alpha", "beta"):
        for task in ("task-one", "task-two"):
            for i in range(3):
                seed_run(root, project, task, stdout=f"{project} {task} {i}\n")
    (root.task_dir("alpha", "task-one") / "DONE").touch()
    config = write_config(tmp / "config.yaml", "api:\n  max_body_bytes: 4096\n")
    server = start_server(root, config, tmp / "server.log")
    yield server
    server.stop()
