"""Registers NADER with the strategy registry: section ``strategy.nader``
(:class:`nas.agents.config.NaderConfig`), built by :func:`nas.agents.factory.from_config`
(imported lazily, on first use). The launcher imports this module; the registry below
names nothing of this package.

Importing this module is cheap (no torch, no LLM client); it is idempotent.
"""

from __future__ import annotations

from nas.strategies.registry import register

__all__ = ["NADER_CONFIG", "NADER_FACTORY"]

NADER_CONFIG = "nas.agents.config:NaderConfig"
NADER_FACTORY = "nas.agents.factory:from_config"

register("nader", NADER_CONFIG, NADER_FACTORY)
