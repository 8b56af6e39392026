"""REST agents that speak OpenAI-style streaming chat completions.

The backend runs inside the runner's process, so it owns what a CLI would own: it
streams tokens into ``agent-stdout.txt`` as they arrive (flushed per chunk, so a tail
sees them live), writes the whole answer to ``output.md``, retries transient failures
and stops promptly when asked. It is written on asyncio so that a stop or a deadline
can interrupt a read that is waiting on a silent server, which a blocking read cannot.

Exit codes: 0 success, 1 failure (HTTP error, retries exhausted, authentication),
124 the run's timeout passed (as ``timeout(1)``), 143 cancelled (as if SIGTERM'd).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, ClassVar, TypeVar

import httpx
from httpx_sse import EventSource

from conductor_loop.agents.base import AgentResult, RestBackend, RunContext
from conductor_loop.agents.jsonlines import as_int, as_str
from conductor_loop.config.models import AgentConfig

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_TIMEOUT = 124
EXIT_CANCELLED = 143

_POLL_SECONDS = 0.05
_ERROR_BODY_LIMIT = 2000

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try. Every wait is also cut short by the run's deadline and by cancel."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    connect_timeout: float = 15.0
    read_timeout: float = 120.0
    """Silence on an open stream longer than this counts as a dropped stream."""

    def backoff(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1`` when the server did not name one."""
        return float(min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


@dataclass(slots=True)
class _Answer:
    text: str
    model: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)


class _Retry(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Fatal(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Interrupted(Exception):
    def __init__(self, exit_code: int, reason: str) -> None:
        super().__init__(reason)
        self.exit_code = exit_code
        self.reason = reason


class OpenAIChatBackend(RestBackend):
    """``POST {base_url}/chat/completions`` with ``"stream": true``; subclasses set defaults."""

    default_base_url: ClassVar[str]
    default_model: ClassVar[str]

    def __init__(self, name: str, config: AgentConfig, retry: RetryPolicy | None = None) -> None:
        super().__init__(name, config)
        self.retry = retry or RetryPolicy()

    @property
    def base_url(self) -> str:
        return (self.config.base_url or self.default_base_url).rstrip("/")

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/chat/completions"

    @property
    def model(self) -> str:
        return self.config.model or self.default_model

    def request_body(self, prompt: str) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": True,
        }

    def final_answer(self, answer: str, extras: dict[str, Any]) -> str:
        """The text for ``output.md``; a hook for providers that wrap their answer."""
        return answer

    def run(
        self, ctx: RunContext, token: str | None, cancel: threading.Event
    ) -> tuple[int, AgentResult]:
        timeout = ctx.timeout if ctx.timeout is not None else self.config.timeout
        deadline = time.monotonic() + timeout if timeout else None
        with (
            ctx.stdout_path.open("a", encoding="utf-8") as stdout,
            ctx.stderr_path.open("a", encoding="utf-8") as stderr,
        ):
            log = _Log(stderr, token)
            if not token:
                message = (
                    f"no token for agent {self.name}: set token or token_file in its config"
                    f" (it is passed as {self.token_env_name})"
                )
                log.line(message)
                return EXIT_FAILED, AgentResult(model=self.model, error=message)
            try:
                prompt = ctx.prompt_path.read_text(encoding="utf-8")
            except OSError as exc:
                message = f"cannot read prompt {str(ctx.prompt_path)!r}: {exc.strerror or exc}"
                log.line(message)
                return EXIT_FAILED, AgentResult(model=self.model, error=message)
            session = _Session(self, ctx, token, cancel, deadline, stdout, log)
            return _run_coroutine(session.run(prompt))


class _Log:
    """Lines for ``agent-stderr.txt``; the token is masked in anything that reaches it."""

    def __init__(self, stream: IO[str], token: str | None) -> None:
        self._stream = stream
        self._token = token

    def redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def line(self, text: str) -> None:
        self._stream.write(self.redact(text).rstrip("\n") + "\n")
        self._stream.flush()


class _Session:
    """One run: attempts, waits between them, and the guard that cancels either."""

    def __init__(
        self,
        backend: OpenAIChatBackend,
        ctx: RunContext,
        token: str,
        cancel: threading.Event,
        deadline: float | None,
        stdout: IO[str],
        log: _Log,
    ) -> None:
        self.backend = backend
        self.ctx = ctx
        self.token = token
        self.cancel = cancel
        self.deadline = deadline
        self.stdout = stdout
        self.log = log
        self.policy = backend.retry

    async def run(self, prompt: str) -> tuple[int, AgentResult]:
        backend = self.backend
        body = backend.request_body(prompt)
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "text/event-stream",
            "Content-Type": "application/json",
        }
        timeout = httpx.Timeout(
            connect=self.policy.connect_timeout,
            read=self.policy.read_timeout,
            write=self.policy.connect_timeout,
            pool=self.policy.connect_timeout,
        )
        attempts = max(1, self.policy.max_attempts)
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                for attempt in range(1, attempts + 1):
                    try:
                        answer = await self._guarded(lambda: self._attempt(client, body, headers))
                    except _Retry as retry:
                        if attempt == attempts:
                            raise _Fatal(
                                f"{retry.reason}; giving up after {attempts} attempts"
                            ) from None
                        await self._wait_before_retry(retry, attempt, attempts)
                        continue
                    return self._succeed(answer)
        except _Fatal as fatal:
            return self._fail(EXIT_FAILED, fatal.reason)
        except _Interrupted as interrupted:
            return self._fail(interrupted.exit_code, interrupted.reason)
        raise AssertionError("unreachable: the attempt loop always returns or raises")

    async def _attempt(
        self, client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]
    ) -> _Answer:
        backend = self.backend
        streaming = False
        try:
            async with client.stream(
                "POST", backend.endpoint, json=body, headers=headers
            ) as response:
                if response.status_code != 200:
                    await self._reject(response)
                streaming = True
                return await self._read_stream(response)
        except httpx.TimeoutException:
            if streaming:
                raise _Retry(
                    f"the stream stalled (no data for {self.policy.read_timeout:g}s)"
                ) from None
            raise _Retry(f"no answer from {backend.base_url} (timed out)") from None
        except httpx.TransportError as exc:
            detail = self.log.redact(str(exc)) or type(exc).__name__
            if streaming:
                raise _Retry(f"the stream was cut off ({detail})") from None
            raise _Retry(f"cannot reach {backend.base_url}: {detail}") from None

    async def _reject(self, response: httpx.Response) -> None:
        status = response.status_code
        raw = await response.aread()
        detail = self.log.redact(_error_detail(raw[:_ERROR_BODY_LIMIT]))
        suffix = f": {detail}" if detail else ""
        if status in (401, 403):
            raise _Fatal(
                f"authentication failed (HTTP {status}) — check the token for agent "
                f"{self.backend.name} ({self.backend.token_env_name}){suffix}"
            )
        if status == 429 or status >= 500:
            raise _Retry(f"HTTP {status}{suffix}", _retry_after(response.headers))
        raise _Fatal(f"HTTP {status} from {self.backend.endpoint}{suffix}")

    async def _read_stream(self, response: httpx.Response) -> _Answer:
        answer = _Answer(text="")
        pieces: list[str] = []
        finished = False
        content_type = response.headers.get("content-type", "").partition(";")[0].strip()
        if content_type != "text/event-stream":
            raise _Fatal(
                f"{self.backend.endpoint} answered {content_type or 'no content type'}, "
                "not an event stream (text/event-stream)"
            )
        # httpx-sse parses the stream as the SSE format says: an event's data may span
        # several ``data:`` lines, joined with newlines.
        async for event in EventSource(response).aiter_sse():
            data = event.data.strip()
            if not data:
                continue
            if data == "[DONE]":
                finished = True
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                continue
            if not isinstance(chunk, dict):
                continue
            if "error" in chunk:
                raise _Fatal(f"the server reported an error mid-stream: {_error_detail(data)}")
            finished = _read_chunk(chunk, answer) or finished
            delta = _delta_text(chunk)
            if delta:
                pieces.append(delta)
                self.stdout.write(delta)
                self.stdout.flush()
        if not finished:
            raise _Retry("the stream ended before the answer was complete")
        answer.text = "".join(pieces)
        return answer

    async def _wait_before_retry(self, retry: _Retry, attempt: int, attempts: int) -> None:
        if retry.retry_after is not None:
            delay = min(retry.retry_after, self.policy.max_retry_after)
        else:
            delay = self.policy.backoff(attempt)
        remaining = self._remaining()
        if remaining is not None and delay >= remaining:
            raise _Interrupted(
                EXIT_TIMEOUT,
                f"{retry.reason}; the next attempt would start after the run's timeout",
            )
        note = (
            f"{retry.reason}; retrying in {round(delay, 2):g}s"
            f" (attempt {attempt + 1} of {attempts})"
        )
        self.log.line(note)
        if self.stdout.tell() > 0:
            self.stdout.write(f"\n\n[conductor-loop: {note}]\n\n")
            self.stdout.flush()
        await self._guarded(lambda: asyncio.sleep(delay))

    async def _guarded(self, start: Callable[[], Awaitable[T]]) -> T:
        """Await ``start()`` unless cancel is set or the deadline passes first."""
        self._check_interrupted()
        task = asyncio.ensure_future(start())
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=_POLL_SECONDS)
                if done:
                    return task.result()
                self._check_interrupted()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _check_interrupted(self) -> None:
        if self.cancel.is_set():
            raise _Interrupted(EXIT_CANCELLED, "cancelled")
        remaining = self._remaining()
        if remaining is not None and remaining <= 0:
            raise _Interrupted(EXIT_TIMEOUT, f"timed out after {self._timeout_text()}")

    def _remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def _timeout_text(self) -> str:
        timeout = self.ctx.timeout if self.ctx.timeout is not None else self.backend.config.timeout
        return f"{timeout:g}s"

    def _succeed(self, answer: _Answer) -> tuple[int, AgentResult]:
        final = self.backend.final_answer(answer.text, answer.extras)
        _write_text(self.ctx.output_path, final)
        if answer.text and not answer.text.endswith("\n"):
            self.stdout.write("\n")
            self.stdout.flush()
        usage = answer.usage
        details = usage.get("prompt_tokens_details")
        return EXIT_OK, AgentResult(
            final_text=final,
            model=answer.model or self.backend.model,
            input_tokens=as_int(usage.get("prompt_tokens")),
            output_tokens=as_int(usage.get("completion_tokens")),
            # as in OpenAI's API: part of the prompt tokens, read from the prompt cache
            cached_input_tokens=(
                as_int(details.get("cached_tokens")) if isinstance(details, dict) else None
            ),
        )

    def _fail(self, exit_code: int, reason: str) -> tuple[int, AgentResult]:
        message = self.log.redact(reason)
        self.log.line(f"agent {self.backend.name}: {message}")
        return exit_code, AgentResult(model=self.backend.model, error=message)


def _read_chunk(chunk: dict[str, Any], answer: _Answer) -> bool:
    """Take model, usage and extras from a chunk; True when it finishes the answer."""
    answer.model = as_str(chunk.get("model")) or answer.model
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        answer.usage = usage
    for key in ("citations", "search_results"):
        if key in chunk:
            answer.extras[key] = chunk[key]
    choices = chunk.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0].get("finish_reason") is not None
    return False


def _delta_text(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    delta = choices[0].get("delta")
    if not isinstance(delta, dict):
        return ""
    content = delta.get("content")
    return content if isinstance(content, str) else ""


def _error_detail(raw: bytes | str) -> str:
    """The message of an OpenAI-style error body, or the body's first line."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:300]


def _retry_after(headers: httpx.Headers) -> float | None:
    """``Retry-After`` as seconds (it may be a number or an HTTP date)."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)


def _run_coroutine(coroutine: Awaitable[T]) -> T:
    """Run on a fresh event loop, in a helper thread if this thread already runs one."""

    async def main() -> T:
        return await coroutine

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    box: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            box.append(asyncio.run(main()))
        except BaseException as exc:  # handed back to the caller's thread below
            errors.append(exc)

    worker = threading.Thread(target=target, name="rest-agent", daemon=True)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
    return box[0]
