"""``run-agent --help``'s click-free path (``cli.fast_help``) against the click group.

The group's help is printed without click when it can be; these tests keep that copy
identical to what click prints, byte for byte and with the same exit status, at every
terminal width, and check that the data it prints from is the group's real data.
"""

from __future__ import annotations

import fcntl
import inspect
import os
import struct
import subprocess
import sys
import termios
from pathlib import Path

import click
import pytest

from conductor_loop.cli import fast_help, group_help
from conductor_loop.cli.run_agent import cli

ENTRY = """
import os, sys
sys.argv[0] = os.environ.get("PROG_FOR_TEST", "run-agent")
try:
    from conductor_loop.cli.run_agent import main
    main()
finally:
    with open(os.environ["IMPORTS_TO"], "w") as out:
        out.write("\\n".join(sorted(sys.modules)))
"""
CLICK = """
import os, sys
sys.argv[0] = os.environ.get("PROG_FOR_TEST", "run-agent")
from conductor_loop.cli.app import cli
cli()
"""
# What printing the group's help must not import: click is most of what it used to cost.
FORBIDDEN = ("click", "pydantic", "yaml", "httpx", "fastapi", "typing", "inspect")
# Environment that changes neither click's output nor the fast path's.
QUIET_ENV = {
    "NO_COLOR": "1",
    "FORCE_COLOR": "1",
    "CLICOLOR_FORCE": "1",
    "TERM": "dumb",
    "LINES": "5",
    "LANG": "de_DE.UTF-8",
    "PYTHONIOENCODING": "latin-1",
}


def _env(**extra: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env = {k: v for k, v in env.items() if not k.endswith("_COMPLETE")}
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


class Outcome:
    def __init__(self, status: int, stdout: bytes, stderr: bytes, imports: set[str]) -> None:
        self.status, self.stdout, self.stderr, self.imports = status, stdout, stderr, imports

    def key(self) -> tuple[int, bytes, bytes]:
        return self.status, self.stdout, self.stderr


def _run(
    code: str, args: list[str], env: dict[str, str], tmp_path: Path, stdout: int | None = None
) -> Outcome:
    imports_to = tmp_path / "imports.txt"
    imports_to.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**env, "IMPORTS_TO": str(imports_to)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
        timeout=60,
        check=False,
    )
    imports = set(imports_to.read_text().split()) if imports_to.exists() else set()
    return Outcome(proc.returncode, proc.stdout or b"", proc.stderr, imports)


def _both(args: list[str], env: dict[str, str], tmp_path: Path) -> tuple[Outcome, Outcome]:
    return _run(ENTRY, args, env, tmp_path), _run(CLICK, args, env, tmp_path)


def _forbidden(imports: set[str]) -> list[str]:
    return sorted(m for m in imports if m.split(".")[0] in FORBIDDEN)


def test_the_declared_help_is_the_groups() -> None:
    """What the fast path prints from (group_help) is what the click group has: its
    options' help records in order, usage, help text, help flags and command list."""
    ctx = click.Context(cli, info_name="run-agent", **cli.context_settings)
    records = [param.get_help_record(ctx) for param in cli.get_params(ctx)]
    assert records == list(group_help.OPTIONS)
    assert not any(isinstance(param, click.Argument) for param in cli.params)
    assert " ".join(cli.collect_usage_pieces(ctx)) == group_help.USAGE_ARGS
    assert cli.help == group_help.GROUP_HELP == inspect.cleandoc(group_help.GROUP_HELP)
    assert ctx.help_option_names == list(group_help.HELP_OPTION_NAMES)
    assert cli.no_args_is_help and not cli.epilog and not cli.deprecated
    assert ctx.terminal_width is None and ctx.max_content_width is None
    assert set(cli.list_commands(ctx)) == set(group_help.SUMMARIES)
    text = fast_help.render("run-agent", 78)
    assert text.isascii() and all(c.isprintable() for c in text.replace("\n", ""))


@pytest.mark.parametrize("width", range(10, 201))
def test_render_is_clicks_format_help_at_every_formatter_width(width: int) -> None:
    ctx = click.Context(cli, info_name="run-agent", **cli.context_settings)
    formatter = click.HelpFormatter(width=width)
    cli.format_help(ctx, formatter)
    assert fast_help.render("run-agent", width) == formatter.getvalue().rstrip("\n")


def test_width_is_clicks_for_every_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """$COLUMNS 20 to 200 (and values shutil ignores) give click's width and text."""
    for columns in [*map(str, range(20, 201)), "0", "-3", "x", ""]:
        monkeypatch.setenv("COLUMNS", columns)
        ctx = click.Context(cli, info_name="run-agent", **cli.context_settings)
        assert fast_help._width() == ctx.make_formatter().width, columns
        assert fast_help.render("run-agent", fast_help._width()) == cli.get_help(ctx), columns


CASES = [
    (args, columns)
    for columns in (None, "20", "50", "52", "79", "80", "81", "200", "0", "x")
    for args in (["--help"], ["-h"], [])
]


@pytest.mark.parametrize(("args", "columns"), CASES, ids=[f"{a}-{c}" for a, c in CASES])
def test_entry_point_prints_what_click_prints(
    args: list[str], columns: str | None, tmp_path: Path
) -> None:
    fast, slow = _both(args, _env(COLUMNS=columns), tmp_path)
    assert fast.key() == slow.key()
    assert fast.status == (0 if args else 2)
    assert (fast.stdout if args else fast.stderr).startswith(b"Usage: run-agent [OPTIONS]")
    assert _forbidden(fast.imports) == []


@pytest.mark.parametrize("name", sorted(QUIET_ENV))
def test_environment_that_changes_nothing_keeps_the_fast_path(name: str, tmp_path: Path) -> None:
    for args in (["--help"], []):
        fast, slow = _both(args, _env(**{name: QUIET_ENV[name]}), tmp_path)
        assert fast.key() == slow.key()
        assert _forbidden(fast.imports) == []


@pytest.mark.parametrize("columns", [50, 64, 100])
def test_a_terminals_width_is_clicks(columns: int, tmp_path: Path) -> None:
    """On a terminal (no $COLUMNS) both take its width from the terminal."""

    def on_pty(code: str) -> tuple[int, bytes]:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", code, "--help"],
                env={**_env(), "IMPORTS_TO": str(tmp_path / "imports.txt")},
                stdin=subprocess.DEVNULL,
                stdout=slave,
                stderr=subprocess.DEVNULL,
            )
        finally:
            os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
        return proc.wait(timeout=60), b"".join(chunks)

    fast, slow = on_pty(ENTRY), on_pty(CLICK)
    assert fast == slow
    assert fast[0] == 0 and b"Commands:" in fast[1]
    assert "click" not in (tmp_path / "imports.txt").read_text().split()


@pytest.mark.parametrize("prog", ["run-agent-with-a-long-name", "ra", "run.agent"])
def test_other_program_names(prog: str, tmp_path: Path) -> None:
    """click names the program after argv[0]; a long name puts the usage on two lines."""
    for columns in ("20", "80"):
        fast, slow = _both(["--help"], _env(COLUMNS=columns, PROG_FOR_TEST=prog), tmp_path)
        assert fast.key() == slow.key()
        assert fast.stdout.startswith(f"Usage: {prog} ".encode())
        assert _forbidden(fast.imports) == []


FALLBACKS = [
    (["--help", "--root", "x"], {}),
    (["--root", "x", "--help"], {}),
    (["--version"], {}),
    (["task", "--help"], {}),
    (["--hel"], {}),
    (
        ["--help"],
        {"_RUN_AGENT_COMPLETE": "bash_complete", "COMP_WORDS": "run-agent ", "COMP_CWORD": "1"},
    ),
    ([], {"_RUN_AGENT_COMPLETE": "bash_source"}),
    (["--help"], {"PROG_FOR_TEST": "rün-agent"}),
]


@pytest.mark.parametrize(("args", "extra"), FALLBACKS, ids=[str(c) for c in FALLBACKS])
def test_anything_else_goes_to_click(
    args: list[str], extra: dict[str, str], tmp_path: Path
) -> None:
    fast, slow = _both(args, _env(**extra), tmp_path)
    assert fast.key() == slow.key()
    assert "click" in fast.imports


def test_python_m_goes_to_click(tmp_path: Path) -> None:
    """``python -m``: click calls the program ``python -m <module>``."""
    proc = subprocess.run(
        [sys.executable, "-m", "conductor_loop.cli.run_agent", "--help"],
        env=_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith(b"Usage: python -m conductor_loop.cli.run_agent [OPTIONS]")


def test_a_closed_pipe_ends_as_with_click(tmp_path: Path) -> None:
    """A reader that went away: status 1 and nothing on stderr, as click does it."""
    outcomes = []
    for code in (ENTRY, CLICK):
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            outcomes.append(_run(code, ["--help"], _env(), tmp_path, stdout=write_end))
        finally:
            os.close(write_end)
    fast, slow = outcomes
    assert (fast.status, fast.stderr) == (slow.status, slow.stderr) == (1, b"")
    assert "click" not in fast.imports


def test_a_translation_catalog_sends_help_to_click(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """click's words go through gettext; with a catalog for the user's language the
    fast path steps aside (it cannot translate them)."""
    catalog = tmp_path / "share" / "locale" / "de" / "LC_MESSAGES" / "messages.mo"
    catalog.parent.mkdir(parents=True)
    catalog.write_bytes(b"")
    monkeypatch.setattr(sys, "base_prefix", str(tmp_path))
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C")
    assert not fast_help._translated()
    monkeypatch.setenv("LANGUAGE", "de")
    assert fast_help._translated()
    assert fast_help.try_help(["--help"]) is None
