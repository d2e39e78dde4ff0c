"""Search strategies with ask/tell (pure: they propose and learn, never evaluate).

The registry maps a name to (config class, factory): ``build(name, config, parts)`` is what
the launcher's composition root calls; ``create(name, **kwargs)`` is the shorthand for tests
and scripts. Only the chosen strategy's module is imported.
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
from nas.strategies.registry import (
    StrategyParts,
    build,
    create,
    entry,
    names,
    register,
    unregister,
)

__all__ = [
    "BaseStrategy",
    "CallOrderError",
    "EventSource",
    "RandomSearch",
    "Result",
    "Strategy",
    "StrategyError",
    "StrategyParts",
    "as_generator",
    "build",
    "create",
    "entry",
    "names",
    "register",
    "unregister",
]
