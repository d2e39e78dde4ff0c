"""archlab's face: the CLI, config loading and validation, run lifecycle."""

__version__ = "0.1.0"
