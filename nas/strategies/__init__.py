"""Search strategies with ask/tell (pure: they propose and learn, never evaluate).

``create(name, **kwargs)`` builds one registered strategy (random, rea, lapt, llmatic;
others via ``register``). Only the chosen strategy's module is imported.
"""

from nas.strategies.base import (
    BaseStrategy,
    CallOrderError,
    EventSource,
    Result,
    Strategy,
    StrategyError,
    as_generator,
)
from nas.strategies.random_search import RandomSearch
from nas.strategies.registry import create, names, register, resolve, unregister

__all__ = [
    "BaseStrategy",
    "CallOrderError",
    "EventSource",
    "RandomSearch",
    "Result",
    "Strategy",
    "StrategyError",
    "as_generator",
    "create",
    "names",
    "register",
    "resolve",
    "unregister",
]
