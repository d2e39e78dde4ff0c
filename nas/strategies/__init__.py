"""Search strategies with ask/tell (pure: they propose and learn, never evaluate)."""

from nas.strategies.base import CallOrderError, Strategy
from nas.strategies.random_search import RandomSearch

__all__ = ["CallOrderError", "RandomSearch", "Strategy"]
