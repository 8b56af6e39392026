"""Orchestration's own errors; the API maps their ``code`` to an HTTP status."""

from __future__ import annotations

from conductor_loop.errors import ConductorError


class LaunchError(ConductorError):
    """The ``run-agent task`` process could not be started or died before its first run."""

    code = "launch_failed"


class DependencyCycleError(ConductorError, ValueError):
    """``depends_on`` would make tasks wait for each other forever."""

    code = "dependency_cycle"
