"""``--help`` of every ``run-agent`` and ``conductor`` command reads well: no reST markup,
command summaries that are whole sentences, every option explained, exit codes told."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from conductor_loop.cli.conductor import cli as conductor_cli
from conductor_loop.cli.run_agent import cli as run_agent_cli
from tests.support import run_cli


def _commands(
    group: click.Command, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, group
    if isinstance(group, click.Group):
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            assert sub is not None
            yield from _commands(sub, (*path, name))


ALL = [
    *_commands(run_agent_cli, ("run-agent",)),
    *_commands(conductor_cli, ("conductor",)),
]


def _help(root: click.Command, path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(root, [*path[1:], "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(p) for p, _ in ALL])
def test_help_reads_well(path: tuple[str, ...], command: click.Command) -> None:
    root = run_agent_cli if path[0] == "run-agent" else conductor_cli
    text = _help(root, path)
    assert "``" not in text, "reST markup in --help"
    undocumented = [
        p.opts[0]
        for p in command.params
        if isinstance(p, click.Option) and not p.hidden and not p.help
    ]
    assert not undocumented, f"options without help: {undocumented}"
    if isinstance(command, click.Group):
        listing = text.split("Commands:", 1)[1]
        cut = [line.strip() for line in listing.splitlines() if line.rstrip().endswith("...")]
        assert not cut, f"summaries cut mid-sentence: {cut}"


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_two_validates_say_how_they_differ() -> None:
    assert "`run-agent config validate`" in _flat(_help(run_agent_cli, ("run-agent", "validate")))
    config_validate = _flat(_help(run_agent_cli, ("run-agent", "config", "validate")))
    assert "`run-agent validate`" in config_validate


def test_job_help_documents_the_exit_codes() -> None:
    text = _flat(_help(run_agent_cli, ("run-agent", "job")))
    assert "Exit status:" in text and "the agent's exit code" in text
    assert "2 a bad option" in text and "74 the runs root" in text


def test_readme_documents_completion_and_exit_codes() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert 'eval "$(_RUN_AGENT_COMPLETE=bash_source run-agent)"' in readme
    assert "74" in readme


def _complete(exe: Path, words: str, root: Path) -> list[str]:
    result = run_cli(
        exe,
        env={
            "_RUN_AGENT_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
            "CONDUCTOR_ROOT": str(root),
        },
    )
    assert result.returncode == 0, result.stderr
    return [line.split(",", 1)[1] for line in result.stdout.splitlines()]


def test_shell_completion_offers_project_and_task_ids(run_agent_exe: Path, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for project, task in (("alpha", "t1"), ("alpha", "t2"), ("beta", "b1")):
        (root / project / task / "runs").mkdir(parents=True)
    assert _complete(run_agent_exe, "run-agent list --project ", root) == ["alpha", "beta"]
    assert _complete(run_agent_exe, "run-agent list --project a", root) == ["alpha"]
    tasks = _complete(run_agent_exe, "run-agent status --project alpha --task ", root)
    assert tasks == ["t1", "t2"]
    other = tmp_path / "other"
    (other / "gamma" / "g1").mkdir(parents=True)
    by_flag = _complete(run_agent_exe, f"run-agent --root {other} bus read --project ", root)
    assert by_flag == ["gamma"]


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_top_level_help_lists_the_declared_summaries_as_click_would(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run-agent --help` takes each command's summary from a table (so that it imports
    none of them): the listing is the one the commands' docstrings give, at any width."""
    from conductor_loop.cli.app import _COMMANDS
    from conductor_loop.cli.group_help import SUMMARIES

    assert set(SUMMARIES) == set(_COMMANDS)
    declared = CliRunner().invoke(run_agent_cli, ["--help"], terminal_width=width)
    monkeypatch.setattr(run_agent_cli, "_summaries", {})
    from_docstrings = CliRunner().invoke(run_agent_cli, ["--help"], terminal_width=width)
    assert declared.exit_code == from_docstrings.exit_code == 0
    assert declared.output == from_docstrings.output


def test_top_level_help_imports_no_subcommand() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['run-agent', '--help']\n"
        "from conductor_loop.cli.run_agent import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "Commands:" in result.stdout and "Run one agent once" in result.stdout
    loaded = set(result.stderr.split())
    from conductor_loop.cli.app import _COMMANDS

    modules = {target.partition(":")[0] for target in _COMMANDS.values()}
    heavy = {"pydantic", "yaml", "httpx", "fastapi", "conductor_loop.config"}
    assert not loaded & (modules | heavy), loaded & (modules | heavy)
