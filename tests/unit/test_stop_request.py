"""STOP-REQUEST files: YAML that any tool reads, and the reason read back exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conductor_loop.runner.stop_request import request_stop, stop_request_reason


@pytest.mark.parametrize(
    "reason",
    ["budget: cost limit reached", 'it\'s "quoted" both ways', "two\nlines\t\\", "", "#1"],
)
def test_the_reason_round_trips_and_the_file_is_yaml(tmp_path: Path, reason: str) -> None:
    path = request_stop(tmp_path, reason=reason, requested_by="host: 1", force=True)
    assert stop_request_reason(tmp_path) == reason
    loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    assert loaded["requested_by"] == "host: 1" and loaded["force"] is True
    assert loaded.get("reason", "") == reason


def test_an_unreadable_request_has_no_reason(tmp_path: Path) -> None:
    (tmp_path / "STOP-REQUEST").write_text("reason: [unclosed\n", encoding="utf-8")
    assert stop_request_reason(tmp_path) == ""
    assert stop_request_reason(tmp_path / "missing") == ""
