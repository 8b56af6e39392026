"""The Ray executor: each task loop a detached, named Ray actor that runs ``run-agent
task`` on the node Ray placed it on.

* **Placement.** The actor asks for the configured resources (``agent_slots: 1``) and no
  CPU, so only nodes that offer agent slots (those with the agent CLIs and the shared
  runs root mounted at the same path) take loops, as many as they have slots; loops are
  spread over those nodes (``SPREAD``), not packed onto the first.
* **Once.** The actor is named ``loop:{project}/{task}`` in the configured namespace and
  created with ``get_if_exists``: a second submit of the same loop, from any server
  replica, finds the live actor instead of starting another. An actor whose loop has
  recorded its end is on its way out: a new start (a resume) waits for it to go.
* **Detached.** The loop outlives the server that submitted it (Ray's driver).
* **Node loss.** Ray restarts the actor elsewhere (``max_restarts = max_retries``). The
  constructor then runs again and starts ``run-agent task --adopt``: the same path a
  server's adoption sweep takes for a dead local loop (the task lock on the shared
  volume was released with the dead node's processes), so the cut-off run is recorded
  failed with one ``RUN_CRASH`` and the loop continues from disk. The sweep itself
  leaves these loops to Ray (``.loop.json`` says ``executor: ray``).
* **End.** When the loop process exits, the actor kills itself without restart, so its
  slot and its name are free again. A loop that a shutdown interrupted (a node being
  stopped sends SIGTERM) records that it is to be resumed; its actor then exits as if it
  had crashed, so that Ray restarts it and it adopts the loop.

Ray is imported here only, and only when a loop is launched or the cluster is asked
for its slots: the default install has no Ray, and nothing else pays for it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

from conductor_loop.errors import ConfigError
from conductor_loop.orchestration.errors import LaunchError
from conductor_loop.orchestration.launcher import LaunchSpec, launch
from conductor_loop.runner.placement import (
    LOOP_EXECUTOR_ENV,
    LOOP_TASK_ENV,
    RAY_JOB_ID_ENV,
    RAY_NODE_ID_ENV,
    RAY_NODE_NAME_ENV,
    RAY_WORKER_ID_ENV,
)

if TYPE_CHECKING:
    from conductor_loop.config.models import ExecutorConfig

log = logging.getLogger("conductor_loop.orchestration")

INSTALL_HINT = "executor ray needs `pip install conductor-loop[ray]`"
EXIT_GRACE = 1.0  # seconds the actor outlives its loop, so that exit_code() answers
PROBE_WAIT = 2.0  # seconds a launch waits to learn whether a named actor's loop runs
NAME_RELEASE_WAIT = 15.0  # seconds a launch waits for an ended loop's actor to exit
SLOTS_TTL = 5.0  # seconds the cluster's slot figures are reused (/metrics)
SLOTS_RESOURCE = "agent_slots"
_UNKNOWN_EXIT = -1  # the actor is gone without telling how its loop ended


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return ray


def actor_name(project_id: str, task_id: str) -> str:
    return f"loop:{project_id}/{task_id}"


class LoopActor:
    """Runs one task's loop on its node (made a Ray actor by ``RayExecutor``)."""

    def __init__(self, spec: LaunchSpec, exit_grace: float = EXIT_GRACE) -> None:
        import ray

        context = ray.get_runtime_context()
        if context.was_current_actor_reconstructed:
            # Our node died with the loop on it: continue it from disk, as adoption does.
            spec = dataclasses.replace(spec, resume=False, adopt=True)
        spec = dataclasses.replace(
            spec,
            extra_env={
                **spec.extra_env,
                RAY_NODE_ID_ENV: context.get_node_id() or "",
                RAY_WORKER_ID_ENV: context.get_worker_id() or "",
                RAY_JOB_ID_ENV: context.get_job_id() or "",
                RAY_NODE_NAME_ENV: socket.gethostname(),
                LOOP_EXECUTOR_ENV: "ray",
                LOOP_TASK_ENV: f"{spec.project_id}/{spec.task_id}",
            },
        )
        self._exit_grace = exit_grace
        self._task_dir = spec.task_dir
        self._exited = threading.Event()
        self._code = _UNKNOWN_EXIT
        self._proc = launch(spec)
        threading.Thread(target=self._reap, name="loop-reaper", daemon=True).start()

    def _reap(self) -> None:
        self._code = self._proc.wait()
        if self._cut_off():
            # The loop was interrupted (its node is shutting down: SIGTERM) and left itself
            # to be resumed. Exit as a crashed actor: Ray restarts it, on another node if
            # this one goes, and the restarted actor adopts the loop.
            os._exit(1)
        self._exited.set()
        time.sleep(self._exit_grace)
        import ray

        ray.kill(ray.get_runtime_context().current_actor, no_restart=True)

    def _cut_off(self) -> bool:
        """Whether the task's loop is unfinished (``.loop.json`` still says running) with
        nobody running it. While another process holds its lock (an interrupted loop
        finishing, which refused our adoption), wait and see how that one ends."""
        from conductor_loop.runner.task_loop import read_loop_state, task_loop_active

        while read_loop_state(self._task_dir).get("state") == "running":
            if not task_loop_active(self._task_dir):
                return True
            time.sleep(0.5)
        return False

    def where(self) -> dict[str, int | str]:
        """Where the loop runs: its node, this actor's process and the loop's."""
        import ray

        return {
            "node_id": ray.get_runtime_context().get_node_id() or "",
            "actor_pid": os.getpid(),
            "loop_pid": self._proc.pid,
        }

    def running(self) -> bool:
        """Whether this actor's loop still runs. False once the loop has recorded its end
        in ``.loop.json`` (its process may take a moment longer to exit): this actor is
        on its way out, and a new start of the task needs an actor of its own."""
        if self._exited.is_set():
            return False
        from conductor_loop.runner.task_loop import read_loop_state

        state = read_loop_state(self._task_dir)
        return not (state.get("pid") == self._proc.pid and state.get("state") == "exited")

    def exit_code(self) -> int:
        """The loop process's exit status, once it has exited."""
        self._exited.wait()
        return self._code


class RayLoop:
    """The orchestrator's view of a loop actor: ``poll`` and ``wait`` on its exit."""

    def __init__(self, ray: Any, actor: Any) -> None:
        self._ray = ray
        self._actor = actor
        self._exit_ref = actor.exit_code.remote()
        self._code: int | None = None
        self.pid = -1  # the loop's process is on another node

    def poll(self) -> int | None:
        """The loop's exit status, or None while it runs, or while the cluster does not
        answer (the task lock on disk still tells whether a loop runs)."""
        if self._code is None:
            try:
                ready, _ = self._ray.wait([self._exit_ref], timeout=0)
            except Exception as exc:  # the connection to the cluster is down
                log.debug("cannot ask Ray about a loop: %s", exc)
                return None
            if ready:
                self._code = self._result()
        return self._code

    def wait(self, timeout: float | None = None) -> int:
        ready, _ = self._ray.wait([self._exit_ref], timeout=timeout)
        if not ready:
            raise subprocess.TimeoutExpired("ray actor", timeout or 0)
        self._code = self._result()
        return self._code

    def _result(self) -> int:
        try:
            return int(self._ray.get(self._exit_ref))
        except Exception:  # the actor died (killed, node lost for good): no status
            return _UNKNOWN_EXIT


def _gone(ray: Any, name: str, namespace: str) -> bool:
    try:
        ray.get_actor(name, namespace=namespace)
    except ValueError:
        return True
    return False


def _reachable(url: str | None) -> str | None:
    """The server's URL as other nodes can use it: a loopback one names their own host
    (the runner then falls back to the config's ``api.public_url``)."""
    from urllib.parse import urlsplit

    from conductor_loop.hosts import is_loopback

    host = urlsplit(url).hostname if url else None
    if host is None or is_loopback(host):
        return None
    return url


class RayExecutor:
    """Launches loops as actors on the cluster ``config.address`` names."""

    name = "ray"

    def __init__(self, config: ExecutorConfig) -> None:
        self.config = config
        self._connect_lock = threading.Lock()  # held while connecting: may take seconds
        self._lock = threading.Lock()  # the slot figures only: never held for long
        self._actor_class: Any = None
        self._slots: tuple[float, float] | None = None
        self._slots_at = -SLOTS_TTL
        self._refreshing = False

    def connect(self) -> Any:
        """Ray, connected to the cluster (once per process)."""
        ray = import_ray()
        with self._connect_lock:
            if not ray.is_initialized():
                try:
                    ray.init(
                        address=self.config.address,
                        namespace=self.config.namespace,
                        logging_level="warning",
                        log_to_driver=False,
                    )
                except Exception as exc:  # Ray raises ConnectionError, RuntimeError, …
                    raise LaunchError(
                        f"cannot reach the Ray cluster at {self.config.address}: {exc}"
                    ) from exc
            if self._actor_class is None:
                self._actor_class = ray.remote(LoopActor)
        return ray

    def launch(self, spec: LaunchSpec) -> RayLoop:
        ray = self.connect()
        options: dict[str, Any] = {
            "name": actor_name(spec.project_id, spec.task_id),
            "namespace": self.config.namespace,
            "lifetime": "detached",
            "get_if_exists": True,
            "num_cpus": 0,
            "resources": dict(self.config.resources),
            "max_restarts": self.config.max_retries,
            "scheduling_strategy": "SPREAD",  # agents are heavy: spread them over the nodes
            "max_task_retries": -1,  # exit_code() is asked again of a restarted actor
            "max_concurrency": 4,  # exit_code() waits while where() answers
        }
        spec = dataclasses.replace(
            spec, extra_env=dict(spec.extra_env), conductor_url=_reachable(spec.conductor_url)
        )
        actor = self._submit(options, spec)
        if self._ended(ray, actor):
            # The name belongs to the actor of a loop that has just ended (a resume right
            # after a stop): it is on its way out. Let it go, then start ours.
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
            deadline = time.monotonic() + NAME_RELEASE_WAIT
            while not _gone(ray, options["name"], options["namespace"]):
                if time.monotonic() >= deadline:
                    raise LaunchError(
                        f"the previous loop of {spec.project_id}/{spec.task_id} on Ray "
                        f"did not exit within {NAME_RELEASE_WAIT:g}s"
                    )
                time.sleep(0.05)
            actor = self._submit(options, spec)
        return RayLoop(ray, actor)

    def _submit(self, options: dict[str, Any], spec: LaunchSpec) -> Any:
        try:
            return self._actor_class.options(**options).remote(spec)
        except Exception as exc:
            raise LaunchError(
                f"could not submit the loop of {spec.project_id}/{spec.task_id} to Ray: {exc}"
            ) from exc

    @staticmethod
    def _ended(ray: Any, actor: Any) -> bool:
        """Whether ``actor`` is one whose loop has ended. An actor that does not answer
        within ``PROBE_WAIT`` is taken as live: it is being placed (Ray queues it until
        a node has a free slot) or it runs."""
        probe = actor.running.remote()
        ready, _ = ray.wait([probe], timeout=PROBE_WAIT)
        if not ready:
            return False
        try:
            return not ray.get(probe)
        except Exception:  # it died meanwhile
            return True

    def slots(self) -> tuple[float, float]:
        """(total, in use) of the ``agent_slots`` the cluster's nodes offer."""
        ray = self.connect()
        total = float(ray.cluster_resources().get(SLOTS_RESOURCE, 0.0))
        free = float(ray.available_resources().get(SLOTS_RESOURCE, 0.0))
        return total, max(0.0, total - free)

    def cluster_slots(self) -> tuple[float, float] | None:
        """``slots()`` as last seen, never waiting for the cluster: older than
        ``SLOTS_TTL``, it is asked again in the background (None until first known)."""
        with self._lock:
            if time.monotonic() - self._slots_at >= SLOTS_TTL and not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._refresh_slots, name="ray-slots", daemon=True).start()
            return self._slots

    def _refresh_slots(self) -> None:
        try:
            figures: tuple[float, float] | None = self.slots()
        except Exception as exc:  # the cluster is unreachable: no figures rather than old ones
            log.warning("cannot read the Ray cluster's agent slots: %s", exc)
            figures = None
        with self._lock:
            self._slots, self._slots_at, self._refreshing = figures, time.monotonic(), False
