"""Run configuration: the schema and its loader."""

from launcher.config.load import ConfigError, config_hash, load_config, save_config, to_yaml
from launcher.config.schema import RunConfig
from launcher.config.validate import validate_config

__all__ = [
    "ConfigError",
    "RunConfig",
    "config_hash",
    "load_config",
    "save_config",
    "to_yaml",
    "validate_config",
]
