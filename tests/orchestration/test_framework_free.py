"""Orchestration is a layer below the API: importing it loads no web framework."""

from __future__ import annotations

import json
import subprocess
import sys

import conductor_loop.orchestration

PROBE = """
import json, pkgutil, importlib, sys
import conductor_loop.orchestration as package
for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
    importlib.import_module(module.name)
print(json.dumps(sorted(sys.modules)))
"""
WEB = ("fastapi", "starlette", "uvicorn", "sse_starlette", "conductor_loop.api")


def test_importing_orchestration_loads_no_web_framework() -> None:
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    )
    assert "conductor_loop.orchestration.orchestrator" in loaded  # the probe did import
    web = [m for m in loaded if m in WEB or m.startswith(tuple(f"{w}." for w in WEB))]
    assert web == [], f"{conductor_loop.orchestration.__name__} imports {web[:6]}"


RAY_PROBE = """
import json, sys
import conductor_loop.orchestration.orchestrator
import conductor_loop.orchestration.executors.ray
from conductor_loop.config.models import Config, ExecutorConfig
from conductor_loop.orchestration.executors import executor_for
executor_for(ExecutorConfig(type="ray"))
print(json.dumps(sorted(sys.modules)))
"""


def test_the_ray_executor_imports_ray_only_when_it_launches_a_loop() -> None:
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", RAY_PROBE],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )
    assert "conductor_loop.orchestration.executors.ray" in loaded
    assert [m for m in loaded if m == "ray" or m.startswith("ray.")] == []


def test_without_ray_installed_the_ray_executor_says_what_to_install() -> None:
    probe = (
        "import sys; sys.modules['ray'] = None\n"
        "from conductor_loop.config.models import ExecutorConfig\n"
        "from conductor_loop.errors import ConfigError\n"
        "from conductor_loop.orchestration.executors.ray import RayExecutor\n"
        "try:\n"
        "    RayExecutor(ExecutorConfig(type='ray')).connect()\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert "executor ray needs `pip install conductor-loop[ray]`" in done.stdout
