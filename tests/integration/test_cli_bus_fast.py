"""``run-agent bus post``'s click-free path (``cli.fast_post``) against the click command.

Each case runs the entry point (``cli.run_agent.main``, which takes the fast path when it
can) and the click group itself on two copies of the same sandbox, and compares what they
print, their exit status and what they leave on disk; the entry point also reports which
modules it imported.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conductor_loop.storage.layout import RunsRoot
from tests.support import HOSTILE_IDS, tree

# What posting must never import: each costs more than the whole post.
FORBIDDEN = ("click", "pydantic", "yaml", "httpx", "fastapi", "starlette", "uvicorn")
# Not forbidden by the issue, but measured (bench/cli_bench.py, ``-X importtime``) to be
# most of what the path cost before it avoided them; a new import of one belongs elsewhere.
HEAVY_STDLIB = (
    "dataclasses",
    "typing",
    "inspect",
    "threading",
    "pathlib",  # with fnmatch, urllib.parse and ipaddress
    "urllib",
    "re",  # with enum
    "enum",
    "contextlib",
    "functools",
    "collections",
)
# What the rare inputs that need a pattern (``re``) import with it.
NEEDS_RE = ("re", "enum", "functools", "collections")

ENTRY = """
import os, sys
sys.argv[0] = "run-agent"

def record():
    with open(os.environ["IMPORTS_TO"], "w") as out:
        out.write("\\n".join(sorted(sys.modules)))

exit_now = os._exit
def record_and_exit(status):  # a fast post ends in os._exit, without the teardown
    record()
    exit_now(status)

os._exit = record_and_exit
try:
    from conductor_loop.cli.run_agent import main
    main()
finally:
    record()
"""
CLICK = 'import sys; sys.argv[0] = "run-agent"; from conductor_loop.cli.app import cli; cli()'

CLEAN_ENV = ("JRUN_MESSAGE_BUS", "JRUN_PROJECT_ID", "JRUN_TASK_ID", "JRUN_ID", "CONDUCTOR_ROOT")
MSG_ID = re.compile(r"MSG-\d{8}-\d{6}-\d{9}-PID\d{5,}-\d{4,}")
TS = re.compile(r"\nts: \S+\n")


class Outcome:
    def __init__(self, proc: subprocess.CompletedProcess[bytes], sandbox: Path) -> None:
        self.status = proc.returncode
        self.stdout = MSG_ID.sub("MSG-ID", proc.stdout.decode())
        self.stderr = proc.stderr.decode().replace(str(sandbox), "SANDBOX")
        self.tree = tree(sandbox)
        self.buses = {
            str(path.relative_to(sandbox)): TS.sub("\nts: TS\n", MSG_ID.sub("MSG-ID", text))
            for path in sorted(sandbox.rglob("*.md"))
            if path.name != "TASK.md"
            for text in [path.read_text(encoding="utf-8", errors="replace")]
        }
        self.imports: set[str] = set()

    def same_as(self, other: Outcome) -> None:
        assert (self.status, self.stdout, self.stderr) == (other.status, other.stdout, other.stderr)
        assert self.tree == other.tree
        assert self.buses == other.buses


def _sandbox(base: Path) -> Path:
    """A runs root with task p/t (with TASK.md) and a run dir, plus a directory outside."""
    root = RunsRoot.at(base / "runs")
    task_dir = root.ensure_task_dir("p", "t")
    (task_dir / "TASK.md").write_text("do it\n")
    root.create_run_dir("p", "t", "r1")
    (base / "outside").mkdir()
    return base


def _run(
    code: str,
    sandbox: Path,
    args: list[str],
    *,
    env: dict[str, str],
    cwd: str,
    stdin: bytes | None,
) -> Outcome:
    def fill(text: str) -> str:
        return text.replace("{S}", str(sandbox))

    full_env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    full_env |= {k: fill(v) for k, v in env.items()}
    imports = sandbox.parent / f"{sandbox.name}.imports"
    full_env["IMPORTS_TO"] = str(imports)
    proc = subprocess.run(
        [sys.executable, "-c", code, *[fill(a) for a in args]],
        cwd=fill(cwd),
        env=full_env,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        timeout=60,
        check=False,
    )
    outcome = Outcome(proc, sandbox)
    if imports.exists():
        outcome.imports = set(imports.read_text().split())
    return outcome


def _both(
    tmp_path: Path,
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str = "{S}",
    stdin: bytes | None = None,
    setup: str = "",
) -> tuple[Outcome, Outcome]:
    outcomes = []
    for name, code in (("entry", ENTRY), ("click", CLICK)):
        sandbox = _sandbox(tmp_path / name)
        if setup == "symlinked-task":
            task_dir = sandbox / "runs" / "p" / "t"
            task_dir.rename(sandbox / "outside" / "t")
            task_dir.symlink_to(sandbox / "outside" / "t")
        outcomes.append(_run(code, sandbox, args, env=env or {}, cwd=cwd, stdin=stdin))
    return outcomes[0], outcomes[1]


BUS_ENV = {"JRUN_MESSAGE_BUS": "{S}/runs/p/t/TASK-MESSAGE-BUS.md"}
POST_CASES: dict[str, dict[str, object]] = {
    "jrun-env-task-bus": dict(
        args=["bus", "post", "--body", "hi"],
        env={
            "JRUN_MESSAGE_BUS": "{S}/runs/p/t/TASK-MESSAGE-BUS.md",
            "JRUN_PROJECT_ID": "p",
            "JRUN_TASK_ID": "t",
            "JRUN_ID": "20260223-1917100000-67946-1",  # a run id: written plain, without re
        },
    ),
    "jrun-env-bus-outside-layout": dict(
        args=["bus", "post", "--type", "FACT", "--body", "x"],
        env={"JRUN_MESSAGE_BUS": "{S}/outside/shared-bus.md", "JRUN_PROJECT_ID": "p"},
    ),
    "flags-win-over-jrun-message-bus": dict(
        args=["bus", "post", "--root", "{S}/runs", "--project", "p", "--task", "u", "--body", "b"],
        env={"JRUN_MESSAGE_BUS": "{S}/outside/shared-bus.md", "JRUN_PROJECT_ID": "p"},
    ),
    "bus-flag-and-field-flags": dict(
        args=[
            "bus",
            "post",
            "--bus={S}/runs/p/PROJECT-MESSAGE-BUS.md",
            "--task=t",
            "--run",
            "r9",
            "--type",
            "QUESTION",
            "--meta",
            "k=v=w",
            "--meta=empty=",
            "--parent",
            "MSG-a",
            "--parent",
            "MSG-b",
            "--body",
            "two\nlines",
        ],
    ),
    "root-before-the-subcommand": dict(
        args=["--root", "{S}/runs", "bus", "post", "--project", "p", "--body", "x"],
    ),
    "own-root-wins-over-the-one-before": dict(
        args=["--root", "{S}/outside", "bus", "post", "--root", "{S}/runs", "--project", "q"],
        stdin=b"from stdin",
    ),
    "conductor-root-env": dict(
        args=["bus", "post", "--project", "p", "--task", "new", "--body", ""],
        env={"CONDUCTOR_ROOT": "{S}/runs"},
    ),
    "task-flag-takes-the-project-from-env": dict(
        args=["bus", "post", "--root", "{S}/runs", "--task", "t", "--body", "x"],
        env={"JRUN_PROJECT_ID": "p"},
    ),
    "discovered-from-cwd": dict(
        args=["bus", "post", "--body", "found"],
        cwd="{S}/runs/p/t/runs/r1",
    ),
    "sibling-task-from-cwd": dict(
        args=["bus", "post", "--task", "other", "--body", "x"],
        cwd="{S}/runs/p/t",
        fast=False,  # --task without a runs root: the click command loads the config
    ),
    "stdin-any-bytes-and-record-lookalikes": dict(
        args=["bus", "post", "--bus", "{S}/runs/p/t/TASK-MESSAGE-BUS.md"],
        stdin=b"msg_id: fake\n---\nmsg_id: x\n\xff\xfe bad utf-8 \xf0\x9f\x9a\x80\n",
        needs=NEEDS_RE,  # quoting record-like lines: a pattern, compiled when needed
    ),
    "undecodable-argv-bytes": dict(
        args=["bus", "post", "--body", "bad \udcff byte", "--meta", "k\udcfe=v"],
        env=BUS_ENV,
        needs=NEEDS_RE,  # replacing lone surrogates
    ),
    "ids-and-values-of-every-shape": dict(
        args=[
            *("bus", "post", "--root", "{S}/runs", "--project", "2026-01-02", "--task", "0x1F"),
            *("--run", "20260223-1917100000-67946-1", "--type", "say it", "--body", "b"),
            *("--meta", "n=017", "--meta", "v=1.5e-3", "--meta", "o=ON", "--meta", "p=/x"),
        ],
        needs=NEEDS_RE,  # the date and the float are told from text by the YAML pattern
    ),
    "values-that-need-quoting": dict(
        args=["bus", "post", "--project", "123", "--root", "{S}/runs", "--type", "yes"],
        stdin=b"",
    ),
}


@pytest.mark.parametrize("case", list(POST_CASES))
def test_fast_path_posts_what_the_click_command_posts(tmp_path: Path, case: str) -> None:
    options = dict(POST_CASES[case])
    took_fast_path = options.pop("fast", True)
    needs = set(options.pop("needs", ()))  # type: ignore[arg-type]
    fast, slow = _both(tmp_path, **options)  # type: ignore[arg-type]
    assert fast.status == 0, fast.stderr
    assert fast.stderr == ""
    assert re.fullmatch(r"MSG-ID\n", fast.stdout)
    assert fast.buses and all("MSG-ID" in text for text in fast.buses.values())
    fast.same_as(slow)
    # The entry point took the fast path: it imported none of the heavy modules.
    assert "conductor_loop.cli.run_agent" in fast.imports  # the list was taken
    heavy = fast.imports & {*FORBIDDEN, *HEAVY_STDLIB}
    assert heavy <= needs if took_fast_path else "click" in heavy, heavy


CLI_HOSTILE = [(label, bad) for label, bad in HOSTILE_IDS if "\x00" not in bad]
REFUSED_CASES: dict[str, dict[str, object]] = {
    **{
        f"project-{label}": dict(
            args=["bus", "post", "--root", "{S}/runs", "--project", bad, "--body", "x"]
        )
        for label, bad in CLI_HOSTILE
    },
    **{
        f"task-{label}": dict(args=["bus", "post", "--task", bad, "--body", "x"], env=BUS_ENV)
        for label, bad in CLI_HOSTILE
    },
    **{
        f"run-{label}": dict(args=["bus", "post", "--run", bad, "--body", "x"], env=BUS_ENV)
        for label, bad in CLI_HOSTILE
    },
    **{
        f"env-project-{label}": dict(
            args=["bus", "post", "--bus", "{S}/outside/b.md", "--body", "x"],
            env={"JRUN_PROJECT_ID": bad},
        )
        for label, bad in CLI_HOSTILE
        if bad  # an empty variable is an unset one
    },
    "bad-meta": dict(args=["bus", "post", "--meta", "novalue", "--body", "x"], env=BUS_ENV),
    "nowhere-to-go": dict(args=["bus", "post", "--body", "x"], cwd="{S}/outside"),
    "no-project": dict(args=["bus", "post", "--bus", "{S}/outside/b.md", "--body", "x"]),
    "bus-is-a-directory": dict(
        args=["bus", "post", "--bus", "{S}/outside", "--body", "x"], env={"JRUN_PROJECT_ID": "p"}
    ),
    "symlink-in-the-runs-root": dict(
        args=["bus", "post", "--root", "{S}/runs", "--project", "p", "--task", "t", "--body", "x"],
        setup="symlinked-task",
    ),
    "empty-type": dict(args=["bus", "post", "--type", "", "--body", "x"], env=BUS_ENV),
    "missing-value": dict(args=["bus", "post", "--body"], env=BUS_ENV),
    "unknown-flag": dict(args=["bus", "post", "--bogus", "--body", "x"], env=BUS_ENV),
    "extra-argument": dict(args=["bus", "post", "extra", "--body", "x"], env=BUS_ENV),
    "option-between-bus-and-post": dict(
        args=["bus", "--root", "{S}/runs", "post", "--body", "x"], env=BUS_ENV
    ),
    "help": dict(args=["bus", "post", "--help"], env=BUS_ENV),
}


@pytest.mark.parametrize("case", list(REFUSED_CASES))
def test_fast_path_refuses_what_the_click_command_refuses(tmp_path: Path, case: str) -> None:
    fast, slow = _both(tmp_path, **REFUSED_CASES[case])  # type: ignore[arg-type]
    fast.same_as(slow)
    if case != "help":
        assert fast.status != 0
        assert "Traceback" not in fast.stderr
    assert not any(text for text in fast.buses.values())


def test_a_refused_post_reads_no_stdin_before_the_click_command_does(tmp_path: Path) -> None:
    """The fast path hands over before it reads the body: the click command still gets it
    (here to report the bad ``--meta``), so nothing is posted empty."""
    fast, slow = _both(
        tmp_path,
        ["bus", "post", "--meta", "novalue"],
        env=BUS_ENV,
        stdin=b"the body",
    )
    fast.same_as(slow)
    assert fast.status == 2 and "KEY=VALUE" in fast.stderr
