"""Configuration: a TOML file validated against typed, documented sections."""

from .load import DEFAULT_CONFIG_PATH, alipay_cert_store, config_path, load_config, load_credentials, parse_config
from .model import AgentConfig, AlipaySettings, PathSettings, StoreSettings
from .schema import ConfigError, Problem, describe

__all__ = [
    "DEFAULT_CONFIG_PATH", "AgentConfig", "AlipaySettings", "ConfigError", "PathSettings", "Problem",
    "StoreSettings", "alipay_cert_store", "config_path", "describe", "load_config", "load_credentials", "parse_config",
]  # fmt: skip
