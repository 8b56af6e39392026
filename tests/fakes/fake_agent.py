#!/usr/bin/env python3
"""A stand-in for the ``claude``, ``codex`` and ``gemini`` CLIs, driven by a script.

It reads the prompt from stdin and prints JSON-lines events shaped like the real CLI's
(see ``tests/fixtures/agents/``), so the backends' parsers read it as they read the real
thing; between the first and last event it does what its script says, so runner tests
can make an "agent" finish a task, fail, hang, ignore signals or spawn child runs.
Standard library only (YAML scripts need PyYAML, which the venv has).

Flavour: the basename of ``argv[0]`` when it is ``claude``, ``codex`` or ``gemini``
(a symlink), else ``$FAKE_AGENT_FLAVOR`` (set by the wrappers ``install_fake_agents``
writes), else ``claude``. ``--version`` prints a version line in the flavour's style.
The model named by ``--model X`` / ``-m X`` / ``-c model="X"`` is reported in the events.

Directives, run in order (script file first, then the prompt):
- prompt lines ``FAKE: <directive>``; a line ``FAKE@N: <directive>`` runs only on the
  N-th invocation for the same task folder, ``FAKE@N+: …`` on the N-th and later (the
  count is kept in ``$JRUN_TASK_FOLDER/.fake-agent-count``, or ``$FAKE_AGENT_COUNTER``);
- ``$FAKE_AGENT_SCRIPT``: a JSON or YAML file holding a list whose items are directive
  strings (``"sleep 2"``, ``"FAKE@2: write-done"``) or one-key maps (``{sleep: 2}``,
  ``{print-lines: [100, 0.01]}``, ``{write-done: null}``).

  answer TEXT            add a line to the final answer (default "OK from fake <flavour>")
  print-lines N SECS     stream N progress lines, SECS apart ("line i of N")
  sleep SECS             sleep
  run SHELL COMMAND      run it with /bin/sh -c (e.g. run-agent job …, run-agent bus post …);
                         shown as the flavour's tool call with its output and exit code
  write-done             create an empty DONE in $JRUN_TASK_FOLDER
  write-output [TEXT]    write TEXT (default: the answer so far) to $JRUN_RUN_FOLDER/output.md
  touch PATH             create PATH (a signal a test can wait for)
  wait-file PATH [SECS]  wait until PATH exists (default 30 s; exit 2 on timeout)
  dump-context [PATH]    write {argv, cwd, env, prompt, flavor, pid, pgid, sid} as JSON
                         (default $JRUN_RUN_FOLDER/fake-context.json, else ./fake-context.json)
  stderr TEXT            write a line to stderr
  ignore-sigterm         ignore SIGTERM from now on
  exit-on-sigterm [CODE] exit CODE (default 0) at once on SIGTERM, as gemini does
  spawn-grandchild [SECS]  start a process that ignores SIGTERM and sleeps SECS (default
                         300); its pid goes to $JRUN_RUN_FOLDER/grandchild.pid (else ./)
  error MESSAGE          end with the flavour's error events, exit 1
  exit CODE              end the event stream normally, exit CODE
  exit-if-done [CODE]    like ``exit`` (default 0), but only if $JRUN_TASK_FOLDER/DONE exists
  no-result              leave out the final events (answer, result, usage) when ending
  usage IN OUT [CACHED [COST]]  report these figures in the final events: input tokens
                         (cached ones included, as the total the model was given), output
                         tokens, cached input tokens, and (claude only) the cost in USD;
                         also on an ``error`` end. Default: input ~ prompt/4, output ~
                         answer/4, none cached, claude's cost at $3/$15 per million
  crash [CODE]           exit CODE (default 1) at once, without the final events

Relative paths are relative to the working directory. An unknown directive is reported
on stderr and makes the agent exit 2, so a typo cannot pass for a behaviour.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FLAVORS = ("claude", "codex", "gemini")
VERSIONS = {
    "claude": "2.1.197 (Claude Code)",
    "codex": "codex-cli 0.171.0",
    "gemini": "0.61.0",
}
DEFAULT_MODELS = {
    "claude": "claude-sonnet-4-5",
    "codex": "gpt-5.5",
    "gemini": "gemini-2.5-flash",
}
_DIRECTIVE = re.compile(r"^FAKE(?:@(\d+)(\+)?)?:\s*(.*)$")


class Stop(Exception):
    """Ends the script: ``exit``, ``error`` or a failed precondition."""

    def __init__(self, code: int, error: str | None = None, finish: bool = True) -> None:
        super().__init__(error or f"exit {code}")
        self.code = code
        self.error = error
        self.finish = finish


# ---------------------------------------------------------------- event shapes


class Emitter:
    """Prints one flavour's events; every line is flushed so a tail sees it live."""

    def __init__(self, model: str, prompt: str) -> None:
        self.model = model
        self.prompt = prompt
        self.session_id = str(uuid.uuid4())
        self.counter = 0
        self.started = time.monotonic()
        self.tool_calls = 0
        self.scripted: tuple[int, int, int] | None = None  # set by ``usage``
        self.scripted_cost: float | None = None

    def emit(self, event: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    def next_id(self) -> int:
        self.counter += 1
        return self.counter

    def usage(self, answer: str) -> tuple[int, int, int]:
        """(input, output, cached input) tokens: as scripted, else from the text's length."""
        if self.scripted is not None:
            return self.scripted
        return max(1, len(self.prompt) // 4), max(1, len(answer) // 4), 0

    def failed_usage(self) -> tuple[int, int, int]:
        """What an error end reports: the scripted figures, else nothing spent."""
        return self.scripted if self.scripted is not None else (0, 0, 0)

    def start(self) -> None: ...
    def text(self, text: str) -> None: ...
    def tool(self, command: str, output: str, exit_code: int) -> None: ...
    def finish(self, answer: str) -> None: ...
    def fail(self, message: str) -> None: ...


class ClaudeEmitter(Emitter):
    def start(self) -> None:
        self.emit(
            {
                "type": "system",
                "subtype": "init",
                "cwd": os.getcwd(),
                "session_id": self.session_id,
                "tools": ["Task", "Bash", "Edit", "Read", "Write"],
                "mcp_servers": [],
                "model": self.model,
                "permissionMode": "bypassPermissions",
                "apiKeySource": "ANTHROPIC_API_KEY"
                if os.environ.get("ANTHROPIC_API_KEY")
                else "none",
                "claude_code_version": VERSIONS["claude"].split()[0],
                "output_style": "default",
                "uuid": str(uuid.uuid4()),
            }
        )

    def _assistant(self, content: list[dict[str, Any]], model: str | None = None) -> dict[str, Any]:
        return {
            "type": "assistant",
            "message": {
                "id": f"msg_fake_{self.next_id()}",
                "type": "message",
                "role": "assistant",
                "model": model or self.model,
                "content": content,
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 1, "output_tokens": 1},
            },
            "parent_tool_use_id": None,
            "session_id": self.session_id,
            "uuid": str(uuid.uuid4()),
        }

    def text(self, text: str) -> None:
        self.emit(self._assistant([{"type": "text", "text": text}]))

    def tool(self, command: str, output: str, exit_code: int) -> None:
        self.tool_calls += 1
        tool_id = f"toolu_fake_{self.next_id()}"
        self.emit(
            self._assistant(
                [
                    {
                        "type": "tool_use",
                        "id": tool_id,
                        "name": "Bash",
                        "input": {"command": command, "description": "Run a command"},
                    }
                ]
            )
        )
        content = output or "(Bash completed with no output)"
        if exit_code:
            content = f"Error: Exit code {exit_code}\n{output}"
        self.emit(
            {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "tool_use_id": tool_id,
                            "type": "tool_result",
                            "content": content,
                            "is_error": exit_code != 0,
                        }
                    ],
                },
                "parent_tool_use_id": None,
                "session_id": self.session_id,
                "uuid": str(uuid.uuid4()),
                "tool_use_result": {
                    "stdout": output,
                    "stderr": "",
                    "interrupted": False,
                    "isImage": False,
                },
            }
        )

    def _result(
        self, text: str, is_error: bool, input_tokens: int, output_tokens: int, cached: int
    ) -> None:
        # Like the API, ``usage`` counts uncached input apart from cache reads.
        uncached = max(0, input_tokens - cached)
        cost = self.scripted_cost
        if cost is None:
            cost = round((input_tokens * 3 + output_tokens * 15) / 1e6, 6)
        self.emit(
            {
                "type": "result",
                "subtype": "success",
                "is_error": is_error,
                "duration_ms": int((time.monotonic() - self.started) * 1000),
                "duration_api_ms": 1,
                "num_turns": self.tool_calls + 1,
                "result": text,
                "session_id": self.session_id,
                "total_cost_usd": cost,
                "usage": {
                    "input_tokens": uncached,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": cached,
                    "output_tokens": output_tokens,
                    "service_tier": "standard",
                },
                "modelUsage": {
                    self.model: {
                        "inputTokens": uncached,
                        "outputTokens": output_tokens,
                        "cacheReadInputTokens": cached,
                        "cacheCreationInputTokens": 0,
                        "costUSD": cost,
                    }
                },
                "permission_denials": [],
                "uuid": str(uuid.uuid4()),
            }
        )

    def finish(self, answer: str) -> None:
        self.text(answer)
        self._result(answer, False, *self.usage(answer))

    def fail(self, message: str) -> None:
        event = self._assistant([{"type": "text", "text": message}], model="<synthetic>")
        event["error"] = "unknown"
        self.emit(event)
        self._result(message, True, *self.failed_usage())


class CodexEmitter(Emitter):
    def start(self) -> None:
        self.emit({"type": "thread.started", "thread_id": self.session_id})
        self.emit({"type": "turn.started"})

    def _item_id(self) -> str:
        return f"item_{self.next_id() - 1}"

    def text(self, text: str) -> None:
        self.emit(
            {
                "type": "item.completed",
                "item": {"id": self._item_id(), "type": "reasoning", "text": text},
            }
        )

    def tool(self, command: str, output: str, exit_code: int) -> None:
        self.tool_calls += 1
        item: dict[str, Any] = {
            "id": self._item_id(),
            "type": "command_execution",
            "command": f"/bin/bash -lc {shlex.quote(command)}",
            "aggregated_output": "",
            "exit_code": None,
            "status": "in_progress",
        }
        self.emit({"type": "item.started", "item": dict(item)})
        item.update(
            aggregated_output=output,
            exit_code=exit_code,
            status="completed" if exit_code == 0 else "failed",
        )
        self.emit({"type": "item.completed", "item": item})

    def finish(self, answer: str) -> None:
        self.emit(
            {
                "type": "item.completed",
                "item": {"id": self._item_id(), "type": "agent_message", "text": answer},
            }
        )
        input_tokens, output_tokens, cached = self.usage(answer)
        self.emit(
            {
                "type": "turn.completed",
                "usage": {
                    "input_tokens": input_tokens,
                    "cached_input_tokens": cached,
                    "output_tokens": output_tokens,
                    "reasoning_output_tokens": 0,
                },
            }
        )

    def fail(self, message: str) -> None:
        self.emit({"type": "error", "message": message})
        self.emit({"type": "turn.failed", "error": {"message": message}})


class GeminiEmitter(Emitter):
    @staticmethod
    def _now() -> str:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def start(self) -> None:
        self.emit(
            {
                "type": "init",
                "timestamp": self._now(),
                "session_id": self.session_id,
                "model": self.model,
            }
        )
        self.emit(
            {"type": "message", "timestamp": self._now(), "role": "user", "content": self.prompt}
        )

    def text(self, text: str) -> None:
        self.emit(
            {
                "type": "message",
                "timestamp": self._now(),
                "role": "assistant",
                "content": text,
                "delta": True,
            }
        )

    def tool(self, command: str, output: str, exit_code: int) -> None:
        self.tool_calls += 1
        tool_id = f"run_shell_command__fake_{self.next_id()}"
        self.emit(
            {
                "type": "tool_use",
                "timestamp": self._now(),
                "tool_name": "run_shell_command",
                "tool_id": tool_id,
                "parameters": {"command": command},
            }
        )
        result: dict[str, Any] = {
            "type": "tool_result",
            "timestamp": self._now(),
            "tool_id": tool_id,
            "status": "success" if exit_code == 0 else "error",
            "output": output,
        }
        if exit_code:
            result["error"] = {"type": "shell_error", "message": f"exit code {exit_code}"}
        self.emit(result)

    def _stats(self, input_tokens: int, output_tokens: int, cached: int) -> dict[str, Any]:
        return {
            "total_tokens": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cached": cached,
            "input": max(0, input_tokens - cached),
            "duration_ms": int((time.monotonic() - self.started) * 1000),
            "tool_calls": self.tool_calls,
        }

    def finish(self, answer: str) -> None:
        self.text(answer)
        self.emit(
            {
                "type": "result",
                "timestamp": self._now(),
                "status": "success",
                "stats": self._stats(*self.usage(answer)),
            }
        )

    def fail(self, message: str) -> None:
        self.emit(
            {
                "type": "result",
                "timestamp": self._now(),
                "status": "error",
                "error": {"type": "unknown", "message": message},
                "stats": self._stats(*self.failed_usage()),
            }
        )


EMITTERS: dict[str, type[Emitter]] = {
    "claude": ClaudeEmitter,
    "codex": CodexEmitter,
    "gemini": GeminiEmitter,
}


# ---------------------------------------------------------------- the script


def flavor_of(argv0: str) -> str:
    name = Path(argv0).name
    if name in FLAVORS:
        return name
    wanted = os.environ.get("FAKE_AGENT_FLAVOR", "claude")
    return wanted if wanted in FLAVORS else "claude"


def model_from(argv: list[str], flavor: str) -> str:
    for index, arg in enumerate(argv):
        following = argv[index + 1] if index + 1 < len(argv) else None
        if arg in ("--model", "-m") and following:
            return following
        if arg.startswith("--model="):
            return arg.split("=", 1)[1]
        if arg == "-c" and following and following.replace(" ", "").startswith("model="):
            return following.split("=", 1)[1].strip().strip("\"'")
    return DEFAULT_MODELS[flavor]


def script_steps() -> list[tuple[str, str]]:
    """(condition, directive) pairs from $FAKE_AGENT_SCRIPT; condition like '', '2', '2+'."""
    path = os.environ.get("FAKE_AGENT_SCRIPT")
    if not path:
        return []
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError:
        import yaml  # only YAML scripts need it

        data = yaml.safe_load(text)
    if not isinstance(data, list):
        raise SystemExit(f"fake agent: {path} must hold a list of directives")
    steps: list[tuple[str, str]] = []
    for item in data:
        if isinstance(item, str):
            steps.append(_split_condition(item if item.startswith("FAKE") else f"FAKE: {item}"))
        elif isinstance(item, dict) and len(item) == 1:
            ((name, value),) = item.items()
            if value is None:
                args = ""
            elif isinstance(value, list):
                args = " ".join(str(part) for part in value)
            else:
                args = str(value)
            steps.append(("", f"{name} {args}".strip()))
        else:
            raise SystemExit(f"fake agent: bad directive {item!r} in {path}")
    return steps


def prompt_steps(prompt: str) -> list[tuple[str, str]]:
    return [
        _split_condition(line.strip())
        for line in prompt.splitlines()
        if _DIRECTIVE.match(line.strip())
    ]


def _split_condition(line: str) -> tuple[str, str]:
    match = _DIRECTIVE.match(line)
    if not match:
        raise SystemExit(f"fake agent: not a directive: {line!r}")
    number, plus, directive = match.groups()
    return (f"{number}{plus or ''}" if number else ""), directive.strip()


def invocation_number() -> int:
    """This invocation's number for the task (1 for the first); counted only when asked."""
    counter = os.environ.get("FAKE_AGENT_COUNTER")
    if not counter:
        task_folder = os.environ.get("JRUN_TASK_FOLDER")
        counter = (
            str(Path(task_folder) / ".fake-agent-count") if task_folder else ".fake-agent-count"
        )
    path = Path(counter)
    try:
        previous = int(path.read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        previous = 0
    path.write_text(str(previous + 1), encoding="utf-8")
    return previous + 1


def applies(condition: str, number: int) -> bool:
    if not condition:
        return True
    if condition.endswith("+"):
        return number >= int(condition[:-1])
    return number == int(condition)


class Agent:
    def __init__(self, flavor: str, argv: list[str], prompt: str) -> None:
        self.flavor = flavor
        self.argv = argv
        self.prompt = prompt
        self.answer_lines: list[str] = []
        self.final_events = True
        self.events = EMITTERS[flavor](model_from(argv, flavor), prompt)

    @property
    def answer(self) -> str:
        return "\n".join(self.answer_lines) or f"OK from fake {self.flavor}"

    def run(self, steps: list[str]) -> int:
        self.events.start()
        try:
            for step in steps:
                self.do(step)
        except Stop as stop:
            if stop.finish and self.final_events:
                if stop.error is not None:
                    self.events.fail(stop.error)
                else:
                    self.events.finish(self.answer)
            return stop.code
        if self.final_events:
            self.events.finish(self.answer)
        return 0

    def do(self, step: str) -> None:
        name, _, rest = step.partition(" ")
        rest = rest.strip()
        handler = getattr(self, "do_" + name.replace("-", "_"), None)
        if handler is None:
            print(f"fake agent: unknown directive {step!r}", file=sys.stderr, flush=True)
            raise Stop(2, finish=False)
        handler(rest)

    def do_answer(self, rest: str) -> None:
        self.answer_lines.append(rest)

    def do_print_lines(self, rest: str) -> None:
        count_text, _, interval_text = rest.partition(" ")
        count = int(count_text or 10)
        interval = float(interval_text or 0)
        for index in range(1, count + 1):
            self.events.text(f"line {index} of {count}\n")
            if interval and index < count:
                time.sleep(interval)

    def do_sleep(self, rest: str) -> None:
        time.sleep(float(rest or 1))

    def do_run(self, rest: str) -> None:
        completed = subprocess.run(
            ["/bin/sh", "-c", rest],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            check=False,
        )
        self.events.tool(rest, completed.stdout, completed.returncode)

    def do_write_done(self, rest: str) -> None:
        (self._folder("JRUN_TASK_FOLDER") / "DONE").write_text("", encoding="utf-8")

    def do_write_output(self, rest: str) -> None:
        (self._folder("JRUN_RUN_FOLDER") / "output.md").write_text(
            (rest or self.answer) + "\n", encoding="utf-8"
        )

    def do_touch(self, rest: str) -> None:
        Path(rest).touch()

    def do_wait_file(self, rest: str) -> None:
        path_text, _, timeout_text = rest.partition(" ")
        deadline = time.monotonic() + float(timeout_text or 30)
        path = Path(path_text)
        while not path.exists():
            if time.monotonic() > deadline:
                print(f"fake agent: {path} did not appear in time", file=sys.stderr, flush=True)
                raise Stop(2, finish=False)
            time.sleep(0.02)

    def do_dump_context(self, rest: str) -> None:
        path = Path(rest) if rest else self._default_dir() / "fake-context.json"
        context = {
            "argv": self.argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "prompt": self.prompt,
            "flavor": self.flavor,
            "pid": os.getpid(),
            "pgid": os.getpgid(0),
            "sid": os.getsid(0),
        }
        path.write_text(json.dumps(context, indent=2), encoding="utf-8")

    def do_stderr(self, rest: str) -> None:
        print(rest, file=sys.stderr, flush=True)

    def do_ignore_sigterm(self, rest: str) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def do_exit_on_sigterm(self, rest: str) -> None:
        code = int(rest or 0)

        def leave(_signum: int, _frame: object) -> None:
            sys.stdout.flush()
            os._exit(code)

        signal.signal(signal.SIGTERM, leave)

    def do_spawn_grandchild(self, rest: str) -> None:
        seconds = float(rest or 300)
        code = (
            "import signal, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            f"time.sleep({seconds!r})\n"
        )
        child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)
        (self._default_dir() / "grandchild.pid").write_text(str(child.pid), encoding="utf-8")

    def do_error(self, rest: str) -> None:
        raise Stop(1, error=rest or "fake agent error")

    def do_exit(self, rest: str) -> None:
        raise Stop(int(rest or 0))

    def do_exit_if_done(self, rest: str) -> None:
        if (self._folder("JRUN_TASK_FOLDER") / "DONE").exists():
            raise Stop(int(rest or 0))

    def do_no_result(self, rest: str) -> None:
        self.final_events = False

    def do_usage(self, rest: str) -> None:
        parts = rest.split()
        if not 2 <= len(parts) <= 4:
            print(f"fake agent: usage needs IN OUT [CACHED [COST]]: {rest!r}", file=sys.stderr)
            raise Stop(2, finish=False)
        counts = [int(part) for part in parts[:3]] + [0] * (3 - min(3, len(parts)))
        self.events.scripted = (counts[0], counts[1], counts[2])
        self.events.scripted_cost = float(parts[3]) if len(parts) == 4 else None

    def do_crash(self, rest: str) -> None:
        raise Stop(int(rest or 1), finish=False)

    def _folder(self, variable: str) -> Path:
        value = os.environ.get(variable)
        if not value:
            print(f"fake agent: ${variable} is not set", file=sys.stderr, flush=True)
            raise Stop(2, finish=False)
        return Path(value)

    def _default_dir(self) -> Path:
        value = os.environ.get("JRUN_RUN_FOLDER")
        return Path(value) if value else Path.cwd()


def main(argv: list[str]) -> int:
    flavor = flavor_of(argv[0])
    if "--version" in argv[1:]:
        print(VERSIONS[flavor])
        return 0
    try:
        prompt = sys.stdin.read()
    except (OSError, ValueError):
        prompt = ""
    steps = script_steps() + prompt_steps(prompt)
    number = invocation_number() if any(condition for condition, _ in steps) else 1
    chosen = [directive for condition, directive in steps if applies(condition, number)]
    return Agent(flavor, argv, prompt).run(chosen)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
