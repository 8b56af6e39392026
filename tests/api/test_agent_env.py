"""Issue 10 M2 through the server: a task the API starts (``run-agent task``) runs its
agent with the allow-listed environment and the config copy without secrets."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from conductor_loop.storage.layout import RunsRoot
from tests.api.helpers import AGENT_TOKEN, API_KEY, ServerFactory, server_env, wait_task
from tests.api.test_tasks import submit
from tests.fakes import install_fake_agents

SERVER_SECRET = "secret-marker-OPENAI-4669"
FOO_SECRET = "foo-SECRET-2019"


def test_tasks_the_server_starts_get_the_filtered_env(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    bin_dir = install_fake_agents(tmp_path / "bin")
    config = (
        "agents:\n"
        f"  claude: {{type: claude, command: {bin_dir / 'claude'}, token: {AGENT_TOKEN}}}\n"
        "defaults: {agent: claude, restart_delay: 50ms}\n"
        f"api:\n  api_key: {API_KEY}\n"
    )
    env = server_env(OPENAI_API_KEY=SERVER_SECRET, FOO_SECRET=FOO_SECRET)
    server = server_factory(config, root=RunsRoot.at(tmp_path / "runs"), env=env)
    client = server.client(headers={"X-API-Key": API_KEY})
    created = submit(client, task_id="envt", prompt="FAKE: dump-context\nFAKE: write-done")
    assert created.status_code == 201, created.text
    wait_task(server.api(API_KEY), "proj", "envt", "completed")
    run_dir = server.root.run_dir("proj", "envt", created.json()["run_id"])
    agent_env = json.loads((run_dir / "fake-context.json").read_text())["env"]

    assert "OPENAI_API_KEY" not in agent_env and "FOO_SECRET" not in agent_env
    assert "CONDUCTOR_API_KEY" not in agent_env
    leaked = [k for k, v in agent_env.items() if SERVER_SECRET in v or FOO_SECRET in v]
    assert not leaked and agent_env["ANTHROPIC_API_KEY"] == AGENT_TOKEN
    copy = Path(agent_env["CONDUCTOR_CONFIG"])
    assert copy != server.config_path
    text = copy.read_text()
    assert AGENT_TOKEN not in text and API_KEY not in text and str(bin_dir / "claude") in text
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
