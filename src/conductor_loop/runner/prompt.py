"""The prompt an agent receives: a preamble telling it where it is, then the task."""

from __future__ import annotations

from pathlib import Path

from conductor_loop.storage.layout import DONE_FILE, OUTPUT_FILE

RESTART_PREFIX = "Continue working on the following:\n\n"


def build_prompt(*, task_dir: Path, run_dir: Path, prompt: str, restart: bool) -> str:
    preamble = (
        f"JRUN_TASK_FOLDER={task_dir}\n"
        f"JRUN_RUN_FOLDER={run_dir}\n"
        f"Write output.md to {run_dir / OUTPUT_FILE}\n"
        "\n"
        "You are running under Conductor Loop. Post progress, facts and questions to the\n"
        "task message bus with `run-agent bus post --type PROGRESS|FACT|QUESTION --body ...`\n"
        "(read it with `run-agent bus read`). Start sub-agents with `run-agent job`. When the\n"
        f"whole task is complete, create the empty file {task_dir / DONE_FILE}; until then\n"
        "you will be restarted to continue the work.\n"
        "\n"
    )
    body = RESTART_PREFIX + prompt if restart else prompt
    return preamble + body
