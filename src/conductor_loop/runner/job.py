"""One agent run (``run-agent job``), the whole spec §6 sequence.

allocate run id and dir → prompt.md → run-info ``running`` → RUN_START on the task bus →
agent in its own session (or in-process for REST) → wait, honouring stop requests,
timeout and heartbeats → final run-info → output.md guaranteed → RUN_STOP / RUN_CRASH.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from conductor_loop.agents.base import AgentResult, Backend, CliBackend, RestBackend, RunContext
from conductor_loop.bus.message import Message
from conductor_loop.bus.writer import append_message
from conductor_loop.config.models import Config
from conductor_loop.errors import (
    AgentError,
    ConductorError,
    ConfigError,
    StorageError,
    storage_error,
    storage_writes,
)
from conductor_loop.runner.agent_home import create_agent_home
from conductor_loop.runner.agent_launcher import agent_launcher_dir
from conductor_loop.runner.environment import (
    AgentConfigCopy,
    build_agent_env,
    write_agent_config,
)
from conductor_loop.runner.identity import host_name, instance_id
from conductor_loop.runner.liveness import hold_run_lock
from conductor_loop.runner.placement import ray_placement
from conductor_loop.runner.process import exit_code_of, start_agent_process, terminate_tree
from conductor_loop.runner.prompt import build_prompt
from conductor_loop.runner.slots import run_slot, slots_dir
from conductor_loop.runner.stop_request import STOP_REQUEST_FILE, stop_request_reason
from conductor_loop.runner.versions import FINAL_WAIT, VersionProbe
from conductor_loop.storage.atomic import atomic_write_text
from conductor_loop.storage.containment import opener, read_text_inside
from conductor_loop.storage.ids import new_run_id, validate_id
from conductor_loop.storage.layout import (
    OUTPUT_FILE,
    PROMPT_FILE,
    STDERR_FILE,
    STDOUT_FILE,
    TASK_FILE,
    RunsRoot,
)
from conductor_loop.storage.runinfo import (
    RUN_INFO_FILE,
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_RUNNING,
    STATUS_STOPPED,
    RunInfo,
    iso_utc,
    write_run_info,
)

POLL_INTERVAL = 0.1
SHUTDOWN_GRACE = 5.0
INTERRUPTED_REASON = "interrupted: the runner was shut down (SIGTERM) before the agent finished"
# A run the runner ended records these whatever the agent returned (REST backends use the
# same): 124 for a timeout, as timeout(1); 143 (128 + SIGTERM) for a stop or a shutdown.
EXIT_TIMEOUT = 124
EXIT_STOPPED = 143
_ERROR_TAIL_CHARS = 600


@dataclass(slots=True)
class JobSpec:
    project_id: str
    task_id: str
    prompt: str
    agent: str | None = None
    cwd: Path | None = None
    parent_run_id: str = ""
    previous_run_id: str = ""
    timeout: float | None = None  # None: agent's or default timeout; 0: none
    restart: bool = False  # prefix the prompt with "Continue working on the following:"


@dataclass(slots=True)
class JobResult:
    run_id: str
    run_dir: Path
    status: str
    exit_code: int
    error_summary: str = ""
    agent_started: bool = True  # False: the agent could not even be started


@dataclass(slots=True)
class _StopRequest:
    why: str
    force: bool


def _read_stop_request(path: Path, not_before: float | None) -> _StopRequest | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    if not_before is not None and stat.st_mtime < not_before:
        return None  # an old request for the task, from before this run started
    force = False
    with contextlib.suppress(OSError):
        force = "force: true" in path.read_text(encoding="utf-8")
    reason = stop_request_reason(path.parent)
    why = f"stop requested ({path.parent.name})" + (f": {reason}" if reason else "")
    return _StopRequest(why, force)


def _tail(path: Path, root: Path, limit: int = _ERROR_TAIL_CHARS) -> str:
    try:
        with open(path, "rb", opener=opener(root)) as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - limit))
            return handle.read().decode("utf-8", errors="replace").strip()
    except OSError:
        return ""


class JobRunner:
    """Runs jobs against one runs root and config.

    ``stop`` (set by signal handlers or the Ralph loop) stops the current run like a
    stop request; ``on_start`` is called once the run exists on disk.
    """

    def __init__(
        self,
        root: RunsRoot,
        config: Config,
        *,
        stop: threading.Event | None = None,
        shutdown: threading.Event | None = None,
        on_start: Callable[[RunInfo], None] | None = None,
    ) -> None:
        self.root = root
        self.config = config
        self.stop = stop or threading.Event()
        self.shutdown = shutdown or threading.Event()
        self.on_start = on_start
        self._agent_config: AgentConfigCopy  # the config copy agents see, set by ``run``
        self._launcher_dir: str | None = None  # their quicker run-agent, set by ``run``
        self._probe: VersionProbe | None = None  # the current run's agent version

    # -- public -----------------------------------------------------------------------

    def run(self, spec: JobSpec) -> JobResult:
        from conductor_loop.agents.registry import backend_for

        validate_id(spec.project_id, "project_id")
        validate_id(spec.task_id, "task_id")
        for value, kind in (
            (spec.parent_run_id, "parent_run_id"),
            (spec.previous_run_id, "previous_run_id"),
        ):
            if value:
                validate_id(value, kind)
        if not spec.prompt.strip():
            raise ConductorError("the prompt is empty")
        agent_name, agent_config = self.config.agent(spec.agent)
        backend = backend_for(agent_name, agent_config)
        token = agent_config.resolve_token(agent_name)
        problem = backend.withheld_problem(token, os.environ)
        if problem:
            raise ConfigError(problem)
        # before the run exists, so that a failure to write it leaves nothing half-made
        self._agent_config = write_agent_config(self.config)
        self._launcher_dir = agent_launcher_dir(self._agent_config.state_dir)
        timeout = spec.timeout
        if timeout is None:
            timeout = (
                agent_config.timeout
                if agent_config.timeout is not None
                else self.config.defaults.timeout
            )
        task_dir = self.root.ensure_task_dir(spec.project_id, spec.task_id)
        self._write_new_task_file(task_dir, spec.prompt)
        slots = slots_dir(self._agent_config.state_dir, self.root.path)
        with run_slot(slots, self.config.defaults.max_concurrent_runs, cancel=self.stop):
            return self._run(spec, backend, token, timeout or None, task_dir)

    def _write_new_task_file(self, task_dir: Path, prompt: str) -> None:
        """A job that starts a new task leaves its prompt as the task's TASK.md, as the Go
        tool does; an existing TASK.md is never touched."""
        path = task_dir / TASK_FILE
        try:
            with (
                storage_writes(path),
                open(path, "x", encoding="utf-8", opener=opener(self.root.path)) as handle,
            ):
                handle.write(prompt if prompt.endswith("\n") else prompt + "\n")
        except FileExistsError:
            pass

    # -- the sequence -------------------------------------------------------------------

    def _run(
        self,
        spec: JobSpec,
        backend: Backend,
        token: str | None,
        timeout: float | None,
        task_dir: Path,
    ) -> JobResult:
        run_id = new_run_id()
        run_dir = self.root.create_run_dir(spec.project_id, spec.task_id, run_id)
        lock_fd = hold_run_lock(run_dir)  # before run-info says "running"
        try:
            return self._run_locked(spec, backend, token, timeout, task_dir, run_id, run_dir)
        except BaseException:
            if not (run_dir / RUN_INFO_FILE).exists():  # e.g. a full disk: no half-made run
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        finally:
            os.close(lock_fd)

    def _run_locked(
        self,
        spec: JobSpec,
        backend: Backend,
        token: str | None,
        timeout: float | None,
        task_dir: Path,
        run_id: str,
        run_dir: Path,
    ) -> JobResult:
        cwd = (spec.cwd or task_dir).absolute()
        prompt_path = run_dir / PROMPT_FILE
        stdout_path = run_dir / STDOUT_FILE
        stderr_path = run_dir / STDERR_FILE
        output_path = run_dir / OUTPUT_FILE
        root = self.root.path
        prompt = build_prompt(
            task_dir=task_dir, run_dir=run_dir, prompt=spec.prompt, restart=spec.restart
        )
        with (
            storage_writes(prompt_path),
            open(prompt_path, "w", encoding="utf-8", opener=opener(root)) as handle,
        ):
            handle.write(prompt)
        for path in (stdout_path, stderr_path):
            with storage_writes(path), open(path, "ab", opener=opener(root)):
                pass
        task_bus = self.root.task_bus(spec.project_id, spec.task_id)
        is_cli = isinstance(backend, CliBackend)
        argv = backend.argv() if isinstance(backend, CliBackend) else []
        info = RunInfo(
            run_id=run_id,
            project_id=spec.project_id,
            task_id=spec.task_id,
            parent_run_id=spec.parent_run_id,
            previous_run_id=spec.previous_run_id,
            agent=backend.name,
            process_ownership="managed" if is_cli else "external",
            pid=0 if is_cli else os.getpid(),
            pgid=0 if is_cli else os.getpgid(0),
            status=STATUS_RUNNING,
            start_time=iso_utc(),
            cwd=str(cwd),
            prompt_path=str(prompt_path),
            output_path=str(output_path),
            stdout_path=str(stdout_path),
            stderr_path=str(stderr_path),
            commandline=shlex.join(argv) if argv else f"{backend.type} (REST)",
            backend_model=backend.model or "",
            host=host_name(),
            instance_id=instance_id(),
            runner_pid=os.getpid(),
            heartbeat_time=iso_utc(),
        )
        for name, value in ray_placement().items():
            setattr(info, name, value)
        write_run_info(run_dir, info, root=root)
        started_at = time.time()
        self._post(
            task_bus,
            spec,
            run_id,
            "RUN_START",
            f"run {run_id} started (agent {backend.name})",
            {"agent": backend.name, "previous_run_id": spec.previous_run_id},
        )
        env = build_agent_env(
            base=os.environ,
            inherited=backend.inherited_env(),
            agent_env=backend.agent_env(token),
            project_id=spec.project_id,
            task_id=spec.task_id,
            run_id=run_id,
            parent_run_id=spec.parent_run_id,
            runs_root=self.root.path,
            task_dir=task_dir,
            run_dir=run_dir,
            task_bus=task_bus,
            config_path=str(self._agent_config.path),
            state_dir=str(self._agent_config.state_dir),
            launcher_dir=self._launcher_dir,
            conductor_url=os.environ.get("JRUN_CONDUCTOR_URL") or self.config.api.public_url,
        )
        ctx = RunContext(
            run_id=run_id,
            project_id=spec.project_id,
            task_id=spec.task_id,
            run_dir=run_dir,
            task_dir=task_dir,
            cwd=cwd,
            prompt_path=prompt_path,
            stdout_path=stdout_path,
            stderr_path=stderr_path,
            output_path=output_path,
            env=env,
            timeout=timeout,
        )
        self._probe = (
            VersionProbe(backend, self._agent_config.state_dir, self.root.path)
            if isinstance(backend, CliBackend)
            else None
        )
        if self.on_start is not None:
            self.on_start(info)
        problem: StorageError | None = None  # the runner could not write: reported at the end
        try:
            if isinstance(backend, CliBackend):
                outcome = self._run_cli(backend, ctx, argv, info, task_dir, started_at, timeout)
            elif isinstance(backend, RestBackend):
                outcome = self._run_rest(backend, ctx, token, info, task_dir, started_at, timeout)
            else:  # pragma: no cover - registry only returns the two kinds
                raise AgentError(f"agent {backend.name}: unknown backend kind")
        except Exception as exc:  # the run must still end recorded, never left running
            outcome = _Outcome(STATUS_FAILED, 1, f"runner error: {exc}", AgentResult())
            problem = storage_error(exc)
        self._fill_version(info)
        try:
            self._ensure_output(ctx, outcome.result)
        except OSError as exc:
            failed = storage_error(exc, output_path)
            if failed is None:
                raise
            problem = problem or failed
            with contextlib.suppress(OSError):
                output_path.unlink(missing_ok=True)  # nothing half-written
            why = "; ".join(filter(None, (outcome.error_summary, failed.message)))
            outcome = _Outcome(
                STATUS_FAILED, outcome.exit_code or 1, why, outcome.result, outcome.agent_started
            )
        info.status = outcome.status
        info.exit_code = outcome.exit_code
        info.end_time = iso_utc()
        info.heartbeat_time = info.end_time
        info.error_summary = _redact(outcome.error_summary, token)
        info.usage = outcome.result.usage(backend.config.pricing)
        if outcome.result.model and not info.backend_model:
            info.backend_model = outcome.result.model
        try:
            write_run_info(run_dir, info, root=root)
        except StorageError as exc:  # the bus may still take the news; then say so and stop
            problem = problem or exc
        if outcome.status == STATUS_FAILED:
            self._post(
                task_bus,
                spec,
                run_id,
                "RUN_CRASH",
                f"run {run_id} failed (exit {outcome.exit_code}): {info.error_summary}",
                {"status": outcome.status, "exit_code": str(outcome.exit_code)},
            )
        else:
            self._post(
                task_bus,
                spec,
                run_id,
                "RUN_STOP",
                f"run {run_id} {outcome.status} (exit {outcome.exit_code})",
                {"status": outcome.status, "exit_code": str(outcome.exit_code)},
            )
        # the record is final already; a version still to come joins it then
        if self._fill_version(info, wait=FINAL_WAIT):
            with contextlib.suppress(ConductorError, OSError):
                write_run_info(run_dir, info, root=root)
        if problem is not None:
            raise problem
        return JobResult(
            run_id,
            run_dir,
            outcome.status,
            outcome.exit_code,
            info.error_summary,
            agent_started=outcome.agent_started,
        )

    def _run_cli(
        self,
        backend: CliBackend,
        ctx: RunContext,
        argv: list[str],
        info: RunInfo,
        task_dir: Path,
        started_at: float,
        timeout: float | None,
    ) -> _Outcome:
        """The CLI run, in a private home of its own when its backend asks for one."""
        files = backend.home_files(ctx.env)
        if not files or backend.home_var is None:
            return self._run_cli_process(backend, ctx, argv, info, task_dir, started_at, timeout)
        state_dir = self._agent_config.state_dir
        try:
            home = create_agent_home(state_dir, ctx.run_id, files)
        except OSError as exc:
            if storage_error(exc) is not None:
                raise  # a full or read-only disk: reported as such by the caller
            message = (
                f"cannot make a private home for agent {backend.name} under "
                f"{str(state_dir)!r}: {exc.strerror or exc}"
            )
            with open(ctx.stderr_path, "a", encoding="utf-8") as err:
                err.write(message + "\n")
            return _Outcome(STATUS_FAILED, 1, message, AgentResult(), agent_started=False)
        ctx.env = {**ctx.env, backend.home_var: str(home.path)}
        try:
            return self._run_cli_process(backend, ctx, argv, info, task_dir, started_at, timeout)
        finally:
            home.close()

    def _run_cli_process(
        self,
        backend: CliBackend,
        ctx: RunContext,
        argv: list[str],
        info: RunInfo,
        task_dir: Path,
        started_at: float,
        timeout: float | None,
    ) -> _Outcome:
        try:
            popen = start_agent_process(
                argv,
                cwd=ctx.cwd,
                env=ctx.env,
                stdin_path=ctx.prompt_path,
                stdout_path=ctx.stdout_path,
                stderr_path=ctx.stderr_path,
            )
        except OSError as exc:
            message = f"cannot start agent {backend.name} ({argv[0]}): {exc.strerror or exc}"
            with open(ctx.stderr_path, "a", encoding="utf-8", opener=opener(self.root.path)) as err:
                err.write(message + "\n")
            return _Outcome(STATUS_FAILED, 127, message, AgentResult(), agent_started=False)
        info.pid = popen.pid
        info.pgid = popen.pid  # leader of its own session and group
        self._fill_version(info)
        write_run_info(ctx.run_dir, info, fsync=False, root=self.root.path)

        def finished() -> bool:
            return popen.poll() is not None

        def wait(seconds: float) -> None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=seconds)

        def kill(grace: float) -> None:
            terminate_tree(popen.pid, popen.pid, grace=grace, popen=popen)

        ended = self._supervise(ctx, info, task_dir, started_at, timeout, finished, wait, kill)
        popen.wait()
        exit_code = exit_code_of(popen.returncode)
        try:  # read here, under the containment rule: the agent may have swapped the file
            text = read_text_inside(self.root.path, ctx.stdout_path, errors="replace")
            result = backend.parse_stdout(text)
        except FileNotFoundError:
            result = AgentResult(model=backend.model)
        except Exception as exc:  # a parser bug (or a planted link) must not lose the run
            result = AgentResult(error=f"could not parse agent output: {exc}")
        if ended is not None:  # whatever the agent returned (gemini exits 0 on SIGTERM)
            return _Outcome(ended.status, ended.exit_code, ended.why, result)
        if exit_code == 0 and not result.error:
            return _Outcome(STATUS_COMPLETED, 0, "", result)
        summary = (
            result.error
            or _tail(ctx.stderr_path, self.root.path)
            or f"agent exited with code {exit_code}"
        )
        return _Outcome(STATUS_FAILED, exit_code or 1, summary, result)

    def _run_rest(
        self,
        backend: RestBackend,
        ctx: RunContext,
        token: str | None,
        info: RunInfo,
        task_dir: Path,
        started_at: float,
        timeout: float | None,
    ) -> _Outcome:
        cancel = threading.Event()
        box: list[tuple[int, AgentResult]] = []
        errors: list[BaseException] = []

        def target() -> None:
            try:
                box.append(backend.run(ctx, token, cancel))
            except BaseException as exc:  # reported as the run's failure
                errors.append(exc)

        worker = threading.Thread(target=target, name=f"agent-{ctx.run_id}", daemon=True)
        worker.start()

        def kill(grace: float) -> None:
            cancel.set()
            worker.join(timeout=max(grace, 0.5))

        ended = self._supervise(
            ctx,
            info,
            task_dir,
            started_at,
            timeout,
            lambda: not worker.is_alive(),
            lambda s: worker.join(timeout=s),
            kill,
        )
        if errors:
            return _Outcome(STATUS_FAILED, 1, f"agent error: {errors[0]}", AgentResult())
        exit_code, result = box[0] if box else (1, AgentResult(error="agent did not finish"))
        if ended is not None:
            return _Outcome(ended.status, ended.exit_code, ended.why, result)
        if exit_code == 0 and not result.error:
            return _Outcome(STATUS_COMPLETED, 0, "", result)
        return _Outcome(
            STATUS_FAILED,
            exit_code or 1,
            result.error or f"agent exited with code {exit_code}",
            result,
        )

    def _supervise(
        self,
        ctx: RunContext,
        info: RunInfo,
        task_dir: Path,
        started_at: float,
        timeout: float | None,
        finished: Callable[[], bool],
        wait: Callable[[float], None],
        kill: Callable[[float], None],
    ) -> _Ended | None:
        """Wait for the agent; says how the run ended if we ended it, None if it exited."""
        beat_every = self.config.defaults.heartbeat_interval
        grace = self.config.defaults.stop_grace_period
        deadline = started_at + timeout if timeout else None
        next_beat = time.monotonic() + beat_every
        run_stop = ctx.run_dir / STOP_REQUEST_FILE
        task_stop = task_dir / STOP_REQUEST_FILE
        while not finished():
            request = _read_stop_request(run_stop, None) or _read_stop_request(
                task_stop, started_at
            )
            if self.shutdown.is_set():
                kill(min(grace, SHUTDOWN_GRACE))
                return _Ended(STATUS_FAILED, INTERRUPTED_REASON, EXIT_STOPPED)
            if request is None and self.stop.is_set():
                request = _StopRequest("stopped by the runner's operator (interrupt)", False)
            if request is not None:
                kill(0.0 if request.force else grace)
                return _Ended(STATUS_STOPPED, request.why, EXIT_STOPPED)
            if deadline is not None and time.time() >= deadline:
                kill(min(grace, 5.0))
                return _Ended(STATUS_FAILED, f"timed out after {timeout:g}s", EXIT_TIMEOUT)
            now = time.monotonic()
            if now >= next_beat:
                info.heartbeat_time = iso_utc()
                self._fill_version(info)
                with contextlib.suppress(OSError):
                    write_run_info(ctx.run_dir, info, fsync=False, root=self.root.path)
                next_beat = now + beat_every
            wait(POLL_INTERVAL)
        return None

    # -- helpers ------------------------------------------------------------------------

    def _fill_version(self, info: RunInfo, wait: float = 0.0) -> bool:
        """Put the agent's version into ``info`` once known (never "" over a known one),
        waiting at most ``wait`` seconds for it unless the runner is told to stop."""
        if info.agent_version or self._probe is None:
            return False
        deadline = time.monotonic() + wait
        version = self._probe.version()
        while not version and time.monotonic() < deadline and not self._probe.done:
            if self.stop.is_set() or self.shutdown.is_set():
                break
            version = self._probe.version(min(POLL_INTERVAL, deadline - time.monotonic()))
        if version:
            info.agent_version = version
        return bool(version)

    def _ensure_output(self, ctx: RunContext, result: AgentResult) -> None:
        """output.md always exists afterwards as a regular file: the agent's own, the
        parsed answer, or stdout. A symlink the agent left there is replaced."""
        root = self.root.path
        with contextlib.suppress(OSError):
            st = os.lstat(ctx.output_path)
            if stat.S_ISREG(st.st_mode) and st.st_size > 0:
                return
        if result.final_text:
            text = result.final_text.rstrip("\n") + "\n"
        else:
            try:
                text = read_text_inside(root, ctx.stdout_path, errors="replace")
            except OSError:  # missing, or a symlink: never copied into output.md
                text = ""
        atomic_write_text(ctx.output_path, text, fsync=False, root=root)

    def _post(
        self,
        bus_path: Path,
        spec: JobSpec,
        run_id: str,
        msg_type: str,
        body: str,
        meta: dict[str, str],
    ) -> None:
        with contextlib.suppress(ConductorError, OSError):
            append_message(
                bus_path,
                Message(
                    type=msg_type,
                    project_id=spec.project_id,
                    task_id=spec.task_id,
                    run_id=run_id,
                    body=body,
                    meta={k: v for k, v in meta.items() if v} | {"source": "runner"},
                ),
                fsync=self.config.storage.bus_fsync,
                root=self.root.path,
            )


@dataclass(frozen=True, slots=True)
class _Ended:
    """How the runner ended a run: its status, why, and the exit code it records."""

    status: str
    why: str
    exit_code: int


@dataclass(slots=True)
class _Outcome:
    status: str
    exit_code: int
    error_summary: str
    result: AgentResult
    agent_started: bool = True


def _redact(text: str, token: str | None) -> str:
    if token and token in text:
        text = text.replace(token, "***")
    return text[: _ERROR_TAIL_CHARS * 2]
