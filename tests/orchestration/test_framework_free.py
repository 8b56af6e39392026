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
