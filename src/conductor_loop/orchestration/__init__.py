"""Orchestration: when and how task loops run, without any web framework.

The queue of root tasks (concurrency limit, ``depends_on``), launching and resuming
``run-agent task`` loops, adopting loops whose runner died, the periodic sweep, and the
rules a new task must pass — shared by the API (``conductor``) and the CLI (``run-agent
task``). Plain values in and out; errors are ``conductor_loop.errors`` types with a
``code`` that the API maps to an HTTP status. Layers: cli -> api -> orchestration ->
runner -> agents -> bus/config -> storage.
"""
