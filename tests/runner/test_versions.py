"""Agent versions: probed beside the run, never delaying or emptying its record, cached
in the state dir per executable path and mtime."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from conductor_loop.agents.base import CliBackend
from conductor_loop.agents.registry import backend_for
from conductor_loop.config.models import AgentConfig
from conductor_loop.runner.versions import CACHE_FILE, cached_version
from conductor_loop.storage.runinfo import RUN_INFO_FILE, RunInfo, read_run_info
from tests.fakes import FAKE_AGENT
from tests.runner.conftest import RunnerEnv, write_config
from tests.support import wait_until

VERSION = "slow-gemini 0.61.0"


def _slow_cli(path: Path, probes: Path, *, seconds: float = 3) -> Path:
    """A gemini stand-in whose ``--version`` takes ``seconds`` (and waits for the file
    ``$VERSION_GATE`` when that is set), noting each probe in ``probes``."""
    path.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then\n'
        f"  echo probe >> {shlex.quote(str(probes))}\n"
        '  if [ -n "$VERSION_GATE" ]; then\n'
        '    while [ ! -e "$VERSION_GATE" ]; do sleep 0.05; done\n'
        "  else\n"
        f"    sleep {seconds}\n"
        "  fi\n"
        f"  echo '{VERSION}'\n"
        "  exit 0\n"
        "fi\n"
        "export FAKE_AGENT_FLAVOR=gemini\n"
        f'exec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_AGENT))} "$@"\n',
        encoding="utf-8",
    )
    path.chmod(0o755)
    return path


@pytest.fixture
def slow(rig: RunnerEnv) -> Path:
    """The rig's gemini replaced by the slow one; returns the file counting probes."""
    probes = rig.tmp / "probes.txt"
    _slow_cli(rig.bin_dir / "gemini", probes)
    write_config(rig.config_path, rig.bin_dir, agent="gemini")
    return probes


def _runs(rig: RunnerEnv, task: str) -> list[RunInfo]:
    """The task's runs that have a record yet."""
    return [
        read_run_info(rig.root.run_dir("p", task, run_id))
        for run_id in rig.root.run_ids("p", task)
        if (rig.root.run_dir("p", task, run_id) / RUN_INFO_FILE).exists()
    ]


def test_a_slow_version_never_holds_up_the_record_and_still_lands_in_it(
    rig: RunnerEnv, slow: Path
) -> None:
    gate = rig.tmp / "gate"
    state = rig.tmp / "state"
    proc = rig.start(
        "job", "--project", "p", "--task", "t", "--prompt", "FAKE: answer quick",
        VERSION_GATE=str(gate), CONDUCTOR_STATE_DIR=str(state),
    )  # fmt: skip
    try:
        # the agent finishes and its run is recorded while --version has not answered
        wait_until(lambda: [r.status for r in _runs(rig, "t")] == ["completed"], 30, "run recorded")
        (info,) = _runs(rig, "t")
        assert info.exit_code == 0 and info.agent_version == ""
        wait_until(lambda: "RUN_STOP" in rig.task_bus_types("p", "t"), 10, "RUN_STOP")
        assert slow.read_text().count("probe") == 1
    finally:
        gate.touch()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    (info,) = _runs(rig, "t")
    assert info.status == "completed" and info.agent_version == VERSION


def test_versions_are_cached_in_the_state_dir_per_path_and_mtime(
    rig: RunnerEnv, slow: Path
) -> None:
    state = rig.tmp / "state"
    legacy = rig.root.path / ".cache" / "agent-versions.json"
    legacy.parent.mkdir()
    legacy.write_text("{}")

    def job(task: str) -> RunInfo:
        done = rig.run(
            "job", "--project", "p", "--task", task, "--prompt", "FAKE: answer hi",
            CONDUCTOR_STATE_DIR=str(state),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        (info,) = _runs(rig, task)
        return info

    assert job("first").agent_version == VERSION
    assert slow.read_text().count("probe") == 1
    cache = json.loads((state / CACHE_FILE).read_text())
    assert cache[str((rig.bin_dir / "gemini").resolve())]["version"] == VERSION
    assert not (rig.root.path / ".cache").exists()  # no ".cache" project in the runs root
    assert job("second").agent_version == VERSION
    assert slow.read_text().count("probe") == 1  # from the cache
    stat = os.stat(rig.bin_dir / "gemini")
    os.utime(rig.bin_dir / "gemini", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert job("third").agent_version == VERSION
    assert slow.read_text().count("probe") == 2  # touched: asked again


def _backend(command: Path) -> CliBackend:
    backend = backend_for("gemini", AgentConfig(type="gemini", command=str(command)))
    assert isinstance(backend, CliBackend)
    return backend


def test_a_failed_probe_stores_nothing(tmp_path: Path) -> None:
    exe = tmp_path / "gemini"
    exe.write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    exe.chmod(0o755)
    state = tmp_path / "state"
    assert cached_version(_backend(exe), state) == ""
    assert not (state / CACHE_FILE).exists()


def test_a_known_version_is_not_asked_again(tmp_path: Path) -> None:
    probes = tmp_path / "probes.txt"
    exe = _slow_cli(tmp_path / "gemini", probes, seconds=0)
    state = tmp_path / "state"
    assert cached_version(_backend(exe), state) == VERSION
    exe.chmod(0o755)  # no change of content or mtime
    assert cached_version(_backend(exe), state) == VERSION
    assert probes.read_text().count("probe") == 1
    assert (state / CACHE_FILE).stat().st_mode & 0o777 == 0o600


def test_version_probe_leaves_the_users_home_alone(tmp_path: Path) -> None:
    """``gemini --version`` writes under its home: the probe gives it a throw-away one."""
    exe = tmp_path / "gemini"
    seen = tmp_path / "seen.txt"
    exe.write_text(f'#!/bin/sh\necho "$GEMINI_CLI_HOME" > {seen}\necho 0.61.0\n')
    exe.chmod(0o755)
    assert cached_version(_backend(exe), tmp_path / "state") == "0.61.0"
    scratch = seen.read_text().strip()
    assert scratch and not Path(scratch).exists()


def test_a_slow_cli_does_not_hold_up_another_clis_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probes of one executable wait for each other, never for another executable's.

    With one lock for the whole cache, a claude probe queued behind a gemini one that took
    long ran out of the run's wait and left claude's run-info without a version."""
    import threading

    gate = tmp_path / "gate"
    for folder in ("hung", "quick"):
        (tmp_path / folder).mkdir()
    hung = _slow_cli(tmp_path / "hung" / "gemini", tmp_path / "hung.txt", seconds=0)
    quick = _slow_cli(tmp_path / "quick" / "gemini", tmp_path / "quick.txt", seconds=0)
    state = tmp_path / "state"
    answers: dict[str, str] = {}
    monkeypatch.setenv("VERSION_GATE", str(gate))
    try:
        first = threading.Thread(
            target=lambda: answers.setdefault("hung", cached_version(_backend(hung), state))
        )
        first.start()
        wait_until(lambda: (tmp_path / "hung.txt").exists(), 10, "the first probe started")
        monkeypatch.delenv("VERSION_GATE")
        second = threading.Thread(
            target=lambda: answers.setdefault("quick", cached_version(_backend(quick), state))
        )
        second.start()
        wait_until(lambda: "quick" in answers, 10, "the second executable's probe answered")
        assert answers["quick"] == VERSION and "hung" not in answers
    finally:
        gate.touch()
    first.join(30)
    assert answers["hung"] == VERSION
    cache = json.loads((state / CACHE_FILE).read_text())
    assert {cache[str(p.resolve())]["version"] for p in (hung, quick)} == {VERSION}
