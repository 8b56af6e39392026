"""A reader polling run-info.yaml never sees a partial document while it is rewritten."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conductor_loop.storage.runinfo import write_run_info
from tests.integration.workers import SCRIPT as WORKERS
from tests.integration.workers import runinfo_version
from tests.support import wait_until

REWRITES = 1000


def test_reader_never_sees_a_partial_run_info(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_run_info(run_dir, runinfo_version(0))
    ready, stop = tmp_path / "reader-ready", tmp_path / "writer-done"
    reader = subprocess.Popen(
        [
            sys.executable,
            str(WORKERS),
            "runinfo-reader",
            str(run_dir),
            "--stop-file",
            str(stop),
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(ready.exists, 60, "the reader's first read")
        writer = subprocess.run(
            [
                sys.executable,
                str(WORKERS),
                "runinfo-writer",
                str(run_dir),
                "--count",
                str(REWRITES),
                "--fsync",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert writer.returncode == 0, writer.stderr
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    result = json.loads(out)
    assert result["failures"] == 0, result["problems"]
    assert result["reads"] > 0
    assert result["versions"] > 2, "the reader never overlapped the writer"
    assert result["last"] == REWRITES  # the final version was seen, whole
    assert [p.name for p in run_dir.iterdir()] == ["run-info.yaml"]  # no temp files left
