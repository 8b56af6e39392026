"""Where a runner runs when an executor placed it: the Ray ids its actor passes down in
the environment, recorded in run-info and ``.loop.json`` (``orchestration.executors``).

Only environment variables: the runner never imports Ray.
"""

from __future__ import annotations

import os

RAY_NODE_ID_ENV = "CONDUCTOR_RAY_NODE_ID"
RAY_WORKER_ID_ENV = "CONDUCTOR_RAY_WORKER_ID"
RAY_JOB_ID_ENV = "CONDUCTOR_RAY_JOB_ID"
RAY_NODE_NAME_ENV = "CONDUCTOR_RAY_NODE_NAME"
# Which executor started the loop of which task: a loop started by a Ray actor is
# restarted by Ray, never adopted by a server's sweep (``Orchestrator.adopt_orphaned_loops``).
LOOP_EXECUTOR_ENV = "CONDUCTOR_LOOP_EXECUTOR"
LOOP_TASK_ENV = "CONDUCTOR_LOOP_TASK"

# run-info field -> environment variable
RAY_FIELDS = {
    "ray_node_id": RAY_NODE_ID_ENV,
    "ray_worker_id": RAY_WORKER_ID_ENV,
    "ray_job_id": RAY_JOB_ID_ENV,
    "ray_node_name": RAY_NODE_NAME_ENV,
}


def ray_placement() -> dict[str, str]:
    """The Ray ids of this process's node, worker and job (none outside Ray)."""
    return {name: value for name, env in RAY_FIELDS.items() if (value := os.environ.get(env))}


def loop_executor(project_id: str, task_id: str) -> str:
    """``ray`` when a Ray actor started this process as the loop of this very task (not
    for another task's loop that one of its agents started), else ``local``."""
    if os.environ.get(LOOP_EXECUTOR_ENV) == "ray" and os.environ.get(LOOP_TASK_ENV) == (
        f"{project_id}/{task_id}"
    ):
        return "ray"
    return "local"
