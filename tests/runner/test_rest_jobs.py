"""REST agents (xai, perplexity) run in-process by `run-agent job` against a local
fake OpenAI-style server: streaming into stdout, output.md, errors, stop."""

from __future__ import annotations

import threading
from pathlib import Path

from conductor_loop.storage.layout import OUTPUT_FILE, STDOUT_FILE
from conductor_loop.storage.runinfo import read_run_info
from conductor_loop.storage.usage import Usage
from tests.fakes.fake_openai_server import FakeOpenAIServer, Reply
from tests.runner.conftest import TOKEN, RunnerEnv
from tests.support import wait_until


def _use_rest_agent(
    rig: RunnerEnv, server: FakeOpenAIServer, kind: str = "xai", extra: str = ""
) -> None:
    text = rig.config_path.read_text()
    text = text.replace(
        "defaults:",
        f"  {kind}:\n    type: {kind}\n    base_url: {server.base_url}\n    token: {TOKEN}\n"
        f"    model: fake-model\n{extra}defaults:",
        1,
    )
    rig.config_path.write_text(text)


def _run_dir(rig: RunnerEnv) -> Path:
    (run_id,) = rig.root.run_ids("p", "t")
    return rig.root.run_dir("p", "t", run_id)


def test_rest_job_streams_and_records(rig: RunnerEnv) -> None:
    with FakeOpenAIServer(Reply.stream("Hello", ", ", "world")) as server:
        _use_rest_agent(rig, server)
        done = rig.run(
            "job", "--project", "p", "--task", "t", "--agent", "xai", "--prompt", "say hi"
        )
        assert done.returncode == 0, done.stderr
        run_dir = _run_dir(rig)
        info = read_run_info(run_dir)
        assert info.status == "completed" and info.process_ownership == "external"
        assert info.pid == info.runner_pid
        assert (run_dir / OUTPUT_FILE).read_text().strip() == "Hello, world"
        assert "Hello, world" in (run_dir / STDOUT_FILE).read_text()
        request = server.requests[0]
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert "say hi" in str(request.body)
        for path in run_dir.iterdir():
            assert TOKEN not in path.read_text(errors="replace")


def test_rest_job_records_the_servers_usage_priced_by_the_config(rig: RunnerEnv) -> None:
    usage = {
        "prompt_tokens": 2000,
        "completion_tokens": 100,
        "prompt_tokens_details": {"cached_tokens": 1500},
    }
    with FakeOpenAIServer(Reply.stream("Hi", usage=usage)) as server:
        pricing = "    pricing: {input_per_mtok: 3, output_per_mtok: 15}\n"
        _use_rest_agent(rig, server, extra=pricing)
        done = rig.run("job", "--project", "p", "--task", "t", "--agent", "xai", "--prompt", "x")
        assert done.returncode == 0, done.stderr
        # no cached price: all 2000 input tokens at $3/M, 100 output at $15/M
        assert read_run_info(_run_dir(rig)).usage == Usage(2000, 100, 1500, 0.0075)


def test_rest_job_fails_fast_on_401_naming_the_cause(rig: RunnerEnv) -> None:
    with FakeOpenAIServer(default=Reply.error(401)) as server:
        _use_rest_agent(rig, server, "perplexity")
        done = rig.run(
            "job", "--project", "p", "--task", "t", "--agent", "perplexity", "--prompt", "x"
        )
        assert done.returncode != 0
        info = read_run_info(_run_dir(rig))
        assert info.status == "failed" and "401" in info.error_summary
        assert server.request_count() == 1
        assert TOKEN not in done.stderr + info.error_summary


def test_rest_job_can_be_stopped_mid_stream(rig: RunnerEnv) -> None:
    with FakeOpenAIServer(default=Reply.hanging("partial", after=1)) as server:
        _use_rest_agent(rig, server)
        proc = rig.start("job", "--project", "p", "--task", "t", "--agent", "xai", "--prompt", "x")
        wait_until(lambda: rig.root.run_ids("p", "t"), 20, "run dir")
        run_dir = _run_dir(rig)
        stdout = run_dir / STDOUT_FILE
        wait_until(lambda: stdout.exists() and "partial" in stdout.read_text(), 20, "first tokens")
        stopper = threading.Thread(target=lambda: rig.run("stop", "--run", run_dir.name))
        stopper.start()
        # The reply hangs for good (and the read timeout is 120 s): only the stop ends it.
        proc.communicate(timeout=30)
        stopper.join(30)
        assert read_run_info(run_dir).status == "stopped"
        assert server.request_count() == 1  # the stop was not taken for a dropped stream
