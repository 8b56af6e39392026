"""``run-agent config validate|init`` through the real console script."""

from __future__ import annotations

from pathlib import Path

from conductor_loop.config import parse_config
from tests.support import run_cli

TOKEN = "sk-CLI-TOKEN-31337-keep-out-of-output"


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_validate_a_good_config(run_agent_exe: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "codex.token"
    token_file.write_text(f"  {TOKEN}\n")
    path = _config(
        tmp_path,
        f"agents:\n  codex: {{type: codex, token_file: {token_file}}}\n"
        f"  claude: {{type: claude, token: {TOKEN}}}\n"
        "defaults:\n  agent: codex\n",
    )
    result = run_cli(run_agent_exe, "config", "validate", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert f"{path}: valid (schema and values)" in result.stdout
    assert "agent codex (codex): token set" in result.stdout
    assert TOKEN not in result.stdout + result.stderr


def test_validate_names_the_bad_key_and_exits_non_zero(run_agent_exe: Path, tmp_path: Path) -> None:
    path = _config(tmp_path, f"agents:\n  x:\n    type: gpt9\n    token: {TOKEN}\n")
    result = run_cli(run_agent_exe, "config", "validate", "--config", str(path))
    assert result.returncode == 2
    assert "agents.x.type" in result.stderr
    assert TOKEN not in result.stdout + result.stderr


def test_validate_reports_an_unreadable_token_file(run_agent_exe: Path, tmp_path: Path) -> None:
    path = _config(tmp_path, f"agents:\n  c:\n    type: claude\n    token_file: {tmp_path}/gone\n")
    result = run_cli(run_agent_exe, "config", "validate", "--config", str(path))
    assert result.returncode == 1
    assert f"{tmp_path}/gone" in result.stderr


def test_validate_flags_a_default_agent_that_is_not_configured(
    run_agent_exe: Path, tmp_path: Path
) -> None:
    path = _config(tmp_path, "agents:\n  c: {type: claude}\ndefaults:\n  agent: codex\n")
    result = run_cli(run_agent_exe, "config", "validate", "--config", str(path))
    assert result.returncode == 1 and "defaults.agent" in result.stderr


def test_validate_finds_the_config_through_the_environment(
    run_agent_exe: Path, tmp_path: Path
) -> None:
    path = _config(tmp_path, "api:\n  port: notaport\n")
    result = run_cli(
        run_agent_exe, "config", "validate", cwd=tmp_path, env={"CONDUCTOR_CONFIG": str(path)}
    )
    assert result.returncode == 2 and "api.port" in result.stderr
    missing = run_cli(run_agent_exe, "config", "validate", "--config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_validate_without_any_config_uses_defaults(run_agent_exe: Path, tmp_path: Path) -> None:
    result = run_cli(run_agent_exe, "config", "validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no config file found" in result.stdout


def test_init_writes_refuses_to_overwrite_and_forces(run_agent_exe: Path, tmp_path: Path) -> None:
    path = tmp_path / "conf" / "config.yaml"
    first = run_cli(run_agent_exe, "config", "init", "--path", str(path))
    assert first.returncode == 0, first.stderr
    written = path.read_text()
    parse_config(written, str(path))  # the template is a valid configuration

    path.write_text(written + "# my edits\n")
    again = run_cli(run_agent_exe, "config", "init", "--path", str(path))
    assert again.returncode != 0 and "--force" in again.stderr
    assert path.read_text().endswith("# my edits\n")  # untouched

    forced = run_cli(run_agent_exe, "config", "init", "--path", str(path), "--force")
    assert forced.returncode == 0, forced.stderr
    assert path.read_text() == written


def test_init_default_location_then_validate(run_agent_exe: Path, tmp_path: Path) -> None:
    home = Path.home()  # a temp dir (tests/conftest.py)
    result = run_cli(run_agent_exe, "config", "init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    path = home / ".config" / "conductor" / "config.yaml"
    assert path.is_file()
    # It invites inline tokens: only its owner may read it.
    assert path.stat().st_mode & 0o777 == 0o600
    # A fresh config passes its own check: it names no token file that is not there.
    fresh = run_cli(run_agent_exe, "config", "validate", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert f"{path}: valid (schema and values)" in fresh.stdout
    assert "agent claude (claude): token not set" in fresh.stdout
    # Once the user points an agent at a token file, the file must exist (as for `job`).
    token_file = path.parent / "claude.token"
    path.write_text(
        path.read_text().replace(
            "    # token_file: ~/.config/conductor/claude.token",
            "    token_file: ~/.config/conductor/claude.token",
        )
    )
    missing = run_cli(run_agent_exe, "config", "validate", cwd=tmp_path)
    assert missing.returncode == 1 and "claude.token" in missing.stderr
    token_file.write_text(f"{TOKEN}\n")
    valid = run_cli(run_agent_exe, "config", "validate", cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert "agent claude (claude): token set" in valid.stdout
    assert TOKEN not in valid.stdout + valid.stderr


def test_init_force_makes_an_existing_file_private(run_agent_exe: Path, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("agents: {}\n")
    path.chmod(0o644)
    forced = run_cli(run_agent_exe, "config", "init", "--path", str(path), "--force")
    assert forced.returncode == 0, forced.stderr
    assert path.stat().st_mode & 0o777 == 0o600


def _user_config(text: str) -> Path:
    path = Path.home() / ".config" / "conductor" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_stray_config_yaml_that_is_not_ours_is_skipped_with_a_warning(
    run_agent_exe: Path, tmp_path: Path
) -> None:
    user = _user_config("api:\n  port: 2001\n")
    (tmp_path / "config.yaml").write_text("name: my-web-app\nversion: 3\n")
    result = run_cli(run_agent_exe, "config", "validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{user}: valid" in result.stdout
    assert "warning:" in result.stderr and "config.yaml" in result.stderr
    assert "not a Conductor Loop config" in result.stderr


def test_a_config_yaml_of_ours_in_the_working_dir_still_wins(
    run_agent_exe: Path, tmp_path: Path
) -> None:
    _user_config("api:\n  port: 2001\n")
    ours = tmp_path / "config.yaml"
    ours.write_text("# project config\nstorage:\n  bus_fsync: true\n")
    result = run_cli(run_agent_exe, "config", "validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{ours}: valid" in result.stdout and "warning" not in result.stderr


def test_unknown_top_level_keys_are_named_in_a_warning(run_agent_exe: Path, tmp_path: Path) -> None:
    path = _config(tmp_path, "agents: {}\nagent:\n  x: 1\nstorgae: {}\n")
    for _ in range(2):  # the second load may come from the config cache: still warned
        result = run_cli(run_agent_exe, "list", "--config", str(path), "--root", str(tmp_path))
        assert result.returncode == 0, result.stderr
        assert "warning:" in result.stderr
        assert "unknown top-level key(s) ignored: agent, storgae" in result.stderr


def test_xdg_config_home_is_where_the_user_config_lives(
    run_agent_exe: Path, tmp_path: Path
) -> None:
    _user_config("api:\n  port: 2001\n")  # ~/.config: not looked at when XDG_CONFIG_HOME is set
    xdg = tmp_path / "xdg"
    env = {"XDG_CONFIG_HOME": str(xdg)}
    init = run_cli(run_agent_exe, "config", "init", cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stderr
    path = xdg / "conductor" / "config.yaml"
    assert path.is_file()
    result = run_cli(run_agent_exe, "config", "validate", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert f"{path}: valid" in result.stdout
