"""Registers NADER with the strategy registry: ``create("nader", **kwargs)`` then builds it
through :func:`nas.agents.factory.make_nader` (imported lazily, on first use).

Importing this module is cheap (no torch, no LLM client); it is idempotent.
"""

from __future__ import annotations

from nas.strategies.registry import register

__all__ = ["NADER_FACTORY"]

NADER_FACTORY = "nas.agents.factory:make_nader"

register("nader", NADER_FACTORY)
