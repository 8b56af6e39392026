"""Where a task loop runs: a detached process on the server's host (``local``) or an
actor on a Ray cluster's node (``ray``).

Only *placing* a loop differs. The queue (``QUEUED`` markers), ``depends_on`` and the
concurrency caps stay ours, for every executor: they rest on the runs root, which every
server replica shares, and claiming a queue marker by renaming it is what makes a start
happen exactly once across replicas. Ray's resources could cap concurrency
(``agent_slots``) but not order a queue, wait for another task's ``DONE`` or refuse a
duplicate start made through another replica; mapping them onto Ray would split one
decision over two systems. So Ray places loops by capacity and restarts them when a
node dies, and nothing else; a loop Ray cannot place yet simply waits in Ray's own
queue, with its task shown as starting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from conductor_loop.config.models import ExecutorConfig
    from conductor_loop.orchestration.launcher import LaunchSpec


class LoopHandle(Protocol):
    """A started loop as the orchestrator watches it (``subprocess.Popen`` is one)."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class Executor(Protocol):
    """Starts task loops (``run-agent task`` with the argv ``LaunchSpec`` builds)."""

    name: str

    def launch(self, spec: LaunchSpec) -> LoopHandle: ...

    def cluster_slots(self) -> tuple[float, float] | None:
        """(total, used) agent slots of a cluster, as last seen; None: no cluster."""
        ...


def executor_for(config: ExecutorConfig) -> Executor:
    """The executor the config names; Ray is imported only once a loop is launched."""
    if config.type == "ray":
        from conductor_loop.orchestration.executors.ray import RayExecutor

        return RayExecutor(config)
    from conductor_loop.orchestration.executors.local import LocalExecutor

    return LocalExecutor()


__all__ = ["Executor", "LoopHandle", "executor_for"]
