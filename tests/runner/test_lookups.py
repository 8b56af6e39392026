"""An unknown project or task is an error in every command that looks one up (exit 2,
``error: project nope not found``), never an empty answer."""

from __future__ import annotations

import pytest

from tests.runner.conftest import RunnerEnv


@pytest.fixture
def seeded(rig: RunnerEnv) -> RunnerEnv:
    done = rig.run("job", "--project", "p", "--task", "t", "--prompt", "FAKE: answer hi")
    assert done.returncode == 0, done.stderr
    return rig


COMMANDS = [
    ("list",),
    ("status",),
    ("output",),
    ("stop",),
    ("task", "delete"),
    ("task", "resume"),
    ("resume",),
    ("task", "--resume"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unknown_project_is_an_error(seeded: RunnerEnv, command: tuple[str, ...]) -> None:
    args = ("--project", "nope") if command == ("list",) else ("--project", "nope", "--task", "t")
    result = seeded.run(*command, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == "error: project nope not found"
    assert result.stdout == ""
    assert not seeded.root.project_dir("nope").exists()


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unknown_task_is_an_error(seeded: RunnerEnv, command: tuple[str, ...]) -> None:
    result = seeded.run(*command, "--project", "p", "--task", "nope")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == "error: task p/nope not found"
    assert result.stdout == ""


def test_a_known_project_still_lists(seeded: RunnerEnv) -> None:
    listed = seeded.run("list", "--project", "p")
    assert listed.returncode == 0, listed.stderr
    assert "t" in listed.stdout.split()
