"""Finding Ralph loops that died without recording their end (runner killed, container
gone), so a server sharing the runs root can adopt them (``run-agent task --adopt``).

Adoption is safe to attempt from several servers at once: the adopting loop must take
the task's lock, so exactly one of them runs it and the others give up.
"""

from __future__ import annotations

from conductor_loop.runner.task_loop import loop_died
from conductor_loop.storage.layout import RunsRoot


def orphaned_loops(root: RunsRoot) -> list[tuple[str, str]]:
    """``(project_id, task_id)`` of every task whose loop died while running."""
    found = []
    for project_id in root.project_ids():
        for task_id in root.task_ids(project_id):
            if loop_died(root.task_dir(project_id, task_id)):
                found.append((project_id, task_id))
    return found
