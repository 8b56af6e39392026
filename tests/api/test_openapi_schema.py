"""Property-based tests of the live server against its own OpenAPI document (schemathesis).

Every operation gets generated requests (valid and invalid); the server must never
answer 5xx, and every response must match the documented status codes, content types
and schemas. Event streams never end by themselves, so they are exercised elsewhere
(test_sse.py) and excluded here. The run is bounded: 30 examples per operation.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.usage import Usage
from tests.api.helpers import seed_run, start_server, write_config

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def test_no_server_errors_and_responses_match_the_schema(tmp_path: Path) -> None:
    root = RunsRoot.at(tmp_path / "runs")
    for task in ("task-a", "task-b"):
        for _ in range(2):
            seed_run(root, "proj", task, stdout="out\n")
    # usage with every figure, and with some unknown (run-info lists only known ones)
    seed_run(root, "proj", "task-a", usage=Usage(1200, 50, 1000, 0.0123))
    seed_run(root, "proj", "task-b", usage=Usage(input_tokens=7))
    # No agents configured: task creation is answered (400) without starting processes.
    config = write_config(tmp_path / "config.yaml", "api:\n  max_body_bytes: 65536\n")
    server = start_server(root, config, tmp_path / "server.log")
    try:
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                "30",
                "--exclude-path-regex",
                "/stream",
                "--phases",
                "examples,coverage,fuzzing",
                "--generation-deterministic",
                # One worker thread: with two, schemathesis's threads compile lambdas at
                # once, and CPython 3.11.7 (ours) can crash in that ("SystemError:
                # AST constructor recursion depth mismatch", seen in CI). Not slower here.
                "--workers",
                "1",
                "--no-color",
                # As the UI and `conductor` send it (bodiless POSTs too); its absence is
                # answered 415, tested in test_request_guard.py.
                "--header",
                "Content-Type: application/json",
            ],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
            cwd=tmp_path,  # its report files go there, not into the work tree
        )
    finally:
        server.stop()
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "Tested: " in result.stdout, report
