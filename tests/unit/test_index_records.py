"""The index keeps run records compactly (orchestration.index): what it gives back is the record
on disk, field for field, whether its file paths are the run's own or elsewhere."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from conductor_loop.orchestration.index import Index, _load_run
from conductor_loop.storage.layout import RunsRoot
from conductor_loop.storage.runinfo import read_run_info, write_run_info
from tests.api.helpers import seed_run


def test_indexed_records_read_back_as_stored(tmp_path: Path) -> None:
    root = RunsRoot.at(tmp_path / "runs")
    own = seed_run(root, "p", "t", status="completed")
    info = read_run_info(own)
    info.prompt_path = str(own / "prompt.md")
    info.stdout_path = str(own / "agent-stdout.txt")
    info.output_path = "/elsewhere/output.md"  # not the run's own: kept as is
    write_run_info(own, info, fsync=False)
    loaded = _load_run(str(own.parent), own.name)
    assert loaded is not None
    indexed, _stamp = loaded
    stored = read_run_info(own)
    assert indexed.to_dict() == stored.to_dict()
    assert indexed.to_yaml() == stored.to_yaml()
    assert indexed.prompt_path == str(own / "prompt.md")
    assert indexed.output_path == "/elsewhere/output.md"
    copy = dataclasses.replace(indexed, status="failed")
    assert copy.to_dict() == stored.to_dict() | {"status": "failed"}
    indexed.stdout_path = "/moved/agent-stdout.txt"
    assert indexed.stdout_path == "/moved/agent-stdout.txt"

    index = Index(root)
    index.build()
    entry = index.run(own.name)
    assert entry is not None and entry.info.to_dict() == stored.to_dict()
    assert entry.run_dir == own
