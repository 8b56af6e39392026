"""The local executor: each loop a detached ``run-agent task`` process on this host
(``launcher``), as it always was."""

from __future__ import annotations

import subprocess

from conductor_loop.orchestration.launcher import LaunchSpec, launch


class LocalExecutor:
    name = "local"

    def launch(self, spec: LaunchSpec) -> subprocess.Popen[bytes]:
        return launch(spec)

    def cluster_slots(self) -> tuple[float, float] | None:
        return None
