"""Configuration: models and the loader (spec §7)."""

from conductor_loop.config.loader import find_config_file, load_config, parse_config
from conductor_loop.config.models import AgentConfig, Config

__all__ = ["AgentConfig", "Config", "find_config_file", "load_config", "parse_config"]
