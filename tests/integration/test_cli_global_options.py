"""``--config`` and ``--root`` work before the subcommand too (``run-agent --root R list``);
a command's own flag wins over the one before it, and either wins over the environment."""

from __future__ import annotations

from pathlib import Path

from tests.support import run_cli


def _root_with_project(tmp_path: Path, name: str, project: str) -> Path:
    root = tmp_path / name
    (root / project / "t" / "runs").mkdir(parents=True)
    return root


def test_global_root_and_config_before_the_subcommand(run_agent_exe: Path, tmp_path: Path) -> None:
    root = _root_with_project(tmp_path, "runs", "alpha")
    config = tmp_path / "c.yaml"
    config.write_text(f"storage:\n  runs_dir: {root}\n")
    by_config = run_cli(run_agent_exe, "--config", str(config), "list", cwd=tmp_path)
    assert by_config.returncode == 0, by_config.stderr
    assert "alpha" in by_config.stdout
    by_root = run_cli(run_agent_exe, "--root", str(root), "list", "--json", cwd=tmp_path)
    assert by_root.returncode == 0, by_root.stderr
    assert '"project_id": "alpha"' in by_root.stdout
    nested = run_cli(run_agent_exe, "--config", str(config), "config", "validate", cwd=tmp_path)
    assert nested.returncode == 0 and f"{config}: valid" in nested.stdout


def test_the_command_flag_wins_over_the_global_one_and_both_over_the_env(
    run_agent_exe: Path, tmp_path: Path
) -> None:
    first = _root_with_project(tmp_path, "first", "from-global")
    second = _root_with_project(tmp_path, "second", "from-command")
    third = _root_with_project(tmp_path, "third", "from-env")
    env = {"CONDUCTOR_ROOT": str(third)}
    both = run_cli(
        run_agent_exe, "--root", str(first), "list", "--root", str(second), cwd=tmp_path, env=env
    )
    assert both.returncode == 0, both.stderr
    assert "from-command" in both.stdout and "from-global" not in both.stdout
    global_only = run_cli(run_agent_exe, "--root", str(first), "list", cwd=tmp_path, env=env)
    assert "from-global" in global_only.stdout and "from-env" not in global_only.stdout
    env_only = run_cli(run_agent_exe, "list", cwd=tmp_path, env=env)
    assert "from-env" in env_only.stdout
