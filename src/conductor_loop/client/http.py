"""``ConductorClient``: the REST + SSE API as typed Python calls.

Built on httpx and httpx-sse. It raises the exceptions of ``client.errors`` and never
prints or exits, so it serves the ``conductor`` commands, tests and other programs
alike. It imports neither FastAPI nor pydantic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from httpx_sse import EventSource

from conductor_loop.client.errors import (
    ConductorClientError,
    ConnectionFailedError,
    ProtocolError,
    error_for_status,
)
from conductor_loop.client.models import (
    Event,
    Health,
    Heartbeat,
    LogLine,
    Message,
    MessageList,
    ProjectList,
    ProjectStats,
    ProjectSummary,
    RunDeleted,
    RunDetail,
    RunDone,
    RunEvent,
    RunFile,
    RunList,
    RunStatusChanged,
    RunSummary,
    ServerStatus,
    StopAccepted,
    TaskAction,
    TaskCreated,
    TaskDetail,
    TaskFile,
    TaskList,
    Version,
    from_json,
)

T = TypeVar("T")

DEFAULT_SERVER = "http://127.0.0.1:14355"
# The server refuses a state-changing request that does not say JSON, body or not: it
# is what a cross-site form cannot send.
_JSON_HEADERS = {"Content-Type": "application/json"}
_STATE_CHANGING = frozenset(("POST", "PUT", "PATCH", "DELETE"))
_RECONNECT_DELAY = 1.0
_MAX_RECONNECT_DELAY = 30.0


def local_generated_key(server: str, state_dir: Path | None = None) -> str | None:
    """The key a server on this machine generated (in ``state_dir``, default: the one
    ``CONDUCTOR_STATE_DIR`` or the platform names), for loopback URLs only: a key is
    never offered to another host."""
    from conductor_loop.api.access import read_generated_key
    from conductor_loop.errors import ConductorError
    from conductor_loop.hosts import is_loopback
    from conductor_loop.storage.state import resolve_state_dir

    if not is_loopback(urlsplit(server).hostname or ""):
        return None
    try:
        return read_generated_key(state_dir or resolve_state_dir())
    except ConductorError:
        return None


def _check_url(server: str) -> str:
    """``server`` without a trailing slash, if it is an http(s) URL with a host."""
    try:
        parts = urlsplit(server)
        port_ok = parts.port is None or parts.port > 0
    except ValueError as exc:
        raise ConductorClientError(f"invalid server URL {server!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ConductorClientError(
            f"invalid server URL {server!r}: give http(s)://host[:port], "
            "e.g. http://127.0.0.1:14355"
        )
    return server.rstrip("/")


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _segment(value: str) -> str:
    """An id percent-encoded for a path: a ``?``, ``#`` or ``%`` in it stays part of it
    (the server checks ids; this only keeps the URL from cutting one short)."""
    return quote(value, safe="")


def _drop_none(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


class ConductorClient:
    """A connection to one ``conductor`` server; use it as a context manager or
    ``close()`` it.

    ``api_key``: sent as a bearer token; when None and the URL is loopback, the key the
    server generated in the state directory is used (``local_key=False`` turns that off).
    """

    def __init__(
        self,
        server: str = DEFAULT_SERVER,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        local_key: bool = True,
        state_dir: Path | None = None,
    ) -> None:
        self.server = _check_url(server)
        # For messages: a password in the URL (user:password@host) is not repeated.
        self._shown = _without_userinfo(self.server)
        headers = {"Accept": "application/json"}
        key = api_key or (local_generated_key(self.server, state_dir) if local_key else None)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)

    def __repr__(self) -> str:
        return f"ConductorClient({self._shown!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        timeout: float | None = None,
    ) -> Any:
        """One call; returns the decoded JSON reply (the text, if it is not JSON)."""
        headers = _JSON_HEADERS if method.upper() in _STATE_CHANGING else None
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            response = self._http.request(
                method,
                path,
                params=_drop_none(params or {}),
                json=json_body,
                headers=headers,
                **extra,
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        except httpx.RequestError as exc:  # a reply that cannot be decoded
            raise ProtocolError(f"bad reply to {method} {path}: {exc}") from None
        if response.status_code >= 400:
            raise _error_from(response)
        if response.headers.get("content-type", "").startswith("application/json"):
            try:
                return response.json()
            except ValueError:
                raise ProtocolError(f"the reply to {method} {path} is not valid JSON") from None
        return response.text

    def _get(self, cls: type[T], path: str, **params: Any) -> T:
        return from_json(cls, self.request("GET", path, params=params))

    def _unreachable(self, exc: Exception) -> ConnectionFailedError:
        return ConnectionFailedError(f"cannot reach the server at {self._shown}: {exc}")

    # -- server ------------------------------------------------------------------------

    def health(self) -> Health:
        return self._get(Health, "/api/v1/health")

    def version(self) -> Version:
        return self._get(Version, "/api/v1/version")

    def status(self) -> ServerStatus:
        return self._get(ServerStatus, "/api/v1/status")

    # -- projects ----------------------------------------------------------------------

    def projects(self) -> ProjectList:
        return self._get(ProjectList, "/api/projects")

    def project(self, project_id: str) -> ProjectSummary:
        return self._get(ProjectSummary, f"/api/projects/{_segment(project_id)}")

    def project_stats(self, project_id: str) -> ProjectStats:
        return self._get(ProjectStats, f"/api/projects/{_segment(project_id)}/stats")

    # -- tasks -------------------------------------------------------------------------

    def submit_task(
        self,
        project_id: str,
        prompt: str,
        *,
        task_id: str | None = None,
        agent: str | None = None,
        cwd: str | None = None,
        timeout: float | str | None = None,
        max_restarts: int | None = None,
        restart_delay: float | str | None = None,
        depends_on: list[str] | tuple[str, ...] = (),
        max_cost_usd: float | None = None,
        max_tokens: int | None = None,
        budget_action: str | None = None,
        request_timeout: float = 60.0,
    ) -> TaskCreated:
        """Create a task and start its loop, or queue it (``status`` "queued").

        Returns once its first run exists. ``timeout`` and ``restart_delay`` take seconds
        or a duration such as "5m". ConflictError if the task exists.
        """
        body = _drop_none(
            {
                "project_id": project_id,
                "prompt": prompt,
                "task_id": task_id,
                "agent_type": agent,
                "cwd": cwd,
                "timeout": timeout,
                "max_restarts": max_restarts,
                "restart_delay": restart_delay,
                "depends_on": list(depends_on) or None,
                "max_cost_usd": max_cost_usd,
                "max_tokens": max_tokens,
                "budget_action": budget_action,
            }
        )
        reply = self.request("POST", "/api/v1/tasks", json_body=body, timeout=request_timeout)
        return from_json(TaskCreated, reply)

    def tasks(
        self,
        *,
        project_id: str | None = None,
        status: str | None = None,
        offset: int | None = None,
        limit: int | None = None,
    ) -> TaskList:
        return self._get(
            TaskList,
            "/api/v1/tasks",
            project_id=project_id,
            status=status,
            offset=offset,
            limit=limit,
        )

    def task(self, task_id: str, project_id: str | None = None) -> TaskDetail:
        """A task and its runs; without ``project_id`` the task id must be unique."""
        if project_id is None:
            return self._get(TaskDetail, f"/api/v1/tasks/{_segment(task_id)}")
        return self._get(TaskDetail, _task_path(project_id, task_id))

    def stop_task(self, task_id: str, project_id: str | None = None) -> TaskAction:
        """Its loop does not restart; running runs are stopped."""
        reply = self.request(
            "DELETE", f"/api/v1/tasks/{_segment(task_id)}", params={"project_id": project_id}
        )
        return from_json(TaskAction, reply)

    def resume_task(
        self, project_id: str, task_id: str, *, request_timeout: float = 60.0
    ) -> TaskCreated:
        """Remove DONE and start the task's loop again (or queue it)."""
        path = _task_path(project_id, task_id) + "/resume"
        return from_json(TaskCreated, self.request("POST", path, timeout=request_timeout))

    def delete_task(self, project_id: str, task_id: str) -> TaskAction:
        """Delete the task with all its runs; ConflictError while it runs."""
        return from_json(TaskAction, self.request("DELETE", _task_path(project_id, task_id)))

    def task_file(self, project_id: str, task_id: str, name: str = "TASK.md") -> TaskFile:
        return self._get(TaskFile, _task_path(project_id, task_id) + "/file", name=name)

    # -- runs --------------------------------------------------------------------------

    def runs(
        self,
        *,
        project_id: str | None = None,
        task_id: str | None = None,
        status: str | None = None,
        agent: str | None = None,
        parent_run_id: str | None = None,
        offset: int | None = None,
        limit: int | None = None,
    ) -> RunList:
        """Runs, newest first."""
        return self._get(
            RunList,
            "/api/v1/runs",
            project_id=project_id,
            task_id=task_id,
            status=status,
            agent=agent,
            parent_run_id=parent_run_id,
            offset=offset,
            limit=limit,
        )

    def run(self, run_id: str) -> RunDetail:
        return self._get(RunDetail, f"/api/v1/runs/{_segment(run_id)}")

    def run_info(self, run_id: str) -> str:
        """The run's run-info.yaml exactly as stored (the format the Go tool shares)."""
        return str(self.request("GET", f"/api/v1/runs/{_segment(run_id)}/info"))

    def stop_run(self, run_id: str) -> StopAccepted:
        return from_json(
            StopAccepted, self.request("POST", f"/api/v1/runs/{_segment(run_id)}/stop")
        )

    def run_file(
        self,
        project_id: str,
        task_id: str,
        run_id: str,
        name: str = "output.md",
        *,
        offset: int | None = None,
        limit: int | None = None,
    ) -> RunFile:
        """A run file (output.md, stdout, stderr, prompt): its last ``limit`` bytes (the
        server's default size), or ``limit`` bytes from ``offset``."""
        path = f"{_task_path(project_id, task_id)}/runs/{_segment(run_id)}/file"
        return self._get(RunFile, path, name=name, offset=offset, limit=limit)

    # -- message bus -------------------------------------------------------------------

    def messages(
        self,
        project_id: str,
        task_id: str | None = None,
        *,
        after: str | None = None,
        tail: int | None = None,
        before: str | None = None,
    ) -> MessageList:
        """The project bus, or the task's with ``task_id``: all, the last ``tail``, those
        after a msg_id, or (paging back) the ``tail`` before one."""
        return self._get(
            MessageList, _bus_path(project_id, task_id), after=after, tail=tail, before=before
        )

    def post_message(
        self,
        project_id: str,
        body: str,
        *,
        task_id: str | None = None,
        run_id: str | None = None,
        type: str = "USER",
        meta: Mapping[str, str] | None = None,
        parents: list[str] | tuple[str, ...] = (),
    ) -> Message:
        payload = _drop_none(
            {
                "type": type,
                "body": body,
                "run_id": run_id,
                "meta": dict(meta) if meta else None,
                "parents": list(parents) or None,
            }
        )
        reply = self.request("POST", _bus_path(project_id, task_id), json_body=payload)
        return from_json(Message, reply)

    # -- streams -----------------------------------------------------------------------

    def events(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        last_event_id: str | None = None,
        reconnect: bool = True,
    ) -> Iterator[Event]:
        """The server-sent events of ``path``, until the server ends the stream.

        A connection that breaks after the stream began is opened again with
        ``Last-Event-ID`` (no event lost or repeated) when ``reconnect``, as often as the
        server's ``retry:`` advice says, until the server answers; without ``reconnect``,
        and when the first connection fails, ConnectionFailedError.
        """
        connected = False
        delay = _RECONNECT_DELAY
        while True:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
            if last_event_id:
                headers["Last-Event-ID"] = last_event_id
            try:
                with self._http.stream(
                    "GET",
                    path,
                    params=_drop_none(params or {}),
                    headers=headers,
                    timeout=httpx.Timeout(30.0, read=None),
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise _error_from(response)
                    kind = response.headers.get("content-type", "").partition(";")[0].strip()
                    if kind != "text/event-stream":
                        raise ProtocolError(f"{path} is not an event stream ({kind or 'no type'})")
                    connected = True
                    for sse in EventSource(response).iter_sse():
                        if sse.retry is not None:  # the server's advice for reconnecting
                            delay = min(sse.retry / 1000, _MAX_RECONNECT_DELAY)
                        if not sse.data:
                            continue  # a "retry:" line on its own is no event
                        last_event_id = sse.id or last_event_id
                        yield Event(event=sse.event, id=sse.id or None, data=_decode(sse.data))
                return
            except httpx.TransportError as exc:
                if not (reconnect and connected):
                    if connected:
                        raise ConnectionFailedError(
                            f"the event stream from {self._shown} broke: {exc}"
                        ) from None
                    raise self._unreachable(exc) from None
                time.sleep(delay)
            except httpx.RequestError as exc:
                raise ProtocolError(f"bad event stream from {path}: {exc}") from None

    def stream_run(
        self,
        run_id: str,
        *,
        streams: tuple[str, ...] = ("stdout", "stderr"),
        last_event_id: str | None = None,
        reconnect: bool = True,
    ) -> Iterator[RunEvent]:
        """A run's output lines and status changes as they happen, ending with RunDone."""
        path = f"/api/v1/runs/{_segment(run_id)}/stream"
        params = {"streams": ",".join(streams)}
        for event in self.events(path, params, last_event_id=last_event_id, reconnect=reconnect):
            if event.event == "log":
                yield from_json(LogLine, _with_id(event))
            elif event.event == "status":
                yield from_json(RunStatusChanged, _with_id(event))
            elif event.event == "heartbeat":
                yield from_json(Heartbeat, event.data)
            elif event.event == "done":
                yield from_json(RunDone, _with_id(event))
                return

    def stream_runs(self, *, reconnect: bool = True) -> Iterator[RunSummary | RunDeleted]:
        """Every run that starts, changes or ends (those running now first), as its new
        summary; it does not end by itself."""
        for event in self.events("/api/v1/runs/stream/all", reconnect=reconnect):
            if event.event != "status":
                continue
            if isinstance(event.data, dict) and event.data.get("status") == "deleted":
                yield from_json(RunDeleted, _with_id(event))
            else:
                yield from_json(RunSummary, event.data)

    def stream_messages(
        self,
        project_id: str,
        task_id: str | None = None,
        *,
        after: str | None = None,
        tail: int | None = None,
        reconnect: bool = True,
    ) -> Iterator[Message]:
        """Bus messages (those after ``after``, or the last ``tail``, then every new one)
        as they are posted; it does not end by itself."""
        path = _bus_path(project_id, task_id) + "/stream"
        for event in self.events(path, {"after": after, "tail": tail}, reconnect=reconnect):
            if event.event == "message":
                yield from_json(Message, event.data)


def _task_path(project_id: str, task_id: str) -> str:
    return f"/api/projects/{_segment(project_id)}/tasks/{_segment(task_id)}"


def _bus_path(project_id: str, task_id: str | None) -> str:
    base = f"/api/projects/{_segment(project_id)}"
    return f"{base}/tasks/{_segment(task_id)}/messages" if task_id else f"{base}/messages"


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _with_id(event: Event) -> Any:
    if not isinstance(event.data, dict):
        raise ProtocolError(f"a {event.event!r} event without an object: {event.data!r}")
    return {**event.data, "event_id": event.id}


def _error_from(response: httpx.Response) -> ConductorClientError:
    """The typed error for an error reply, with the code and message of its body."""
    code: str | None = None
    try:
        detail = response.json()["error"]
        code, message = str(detail["code"]), str(detail["message"])
    except (ValueError, KeyError, TypeError):
        message = response.text.strip() or response.reason_phrase
    return error_for_status(response.status_code, code, message)
