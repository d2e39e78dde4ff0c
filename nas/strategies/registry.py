"""A registry that constructs only the chosen strategy.

Built-in names map to ``"module:attribute"`` paths imported on first use, so choosing
``random`` never imports LAPT's or LLMatic's code; other packages add theirs with
:func:`register` (e.g. the agents package: ``register("nader", make_nader)``).

    >>> import numpy as np
    >>> s = create("random", rng=np.random.default_rng(0))
    >>> s.name, "nader" in names() or True
    ('random', True)
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any

from nas.strategies.base import Strategy, StrategyError

__all__ = ["create", "names", "register", "resolve", "unregister"]

Factory = Callable[..., Strategy]

_REGISTRY: dict[str, Factory | str] = {
    "random": "nas.strategies.random_search:RandomSearch",
    "rea": "nas.strategies.rea:RegularizedEvolution",
    "lapt": "nas.strategies.lapt:LAPT",
    "llmatic": "nas.strategies.llmatic:LLMatic",
    "nader": "nas.agents.factory:make_nader",
}


def register(name: str, factory: Factory | str, *, replace: bool = False) -> None:
    """Make ``create(name, **kwargs)`` call ``factory(**kwargs)``.

    ``factory`` is a callable returning a :class:`~nas.strategies.base.Strategy`, or a lazy
    ``"package.module:attribute"`` path. Re-registering a name needs ``replace=True``.
    """
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise StrategyError(f"strategy name {name!r}: use letters, digits, '-' or '_'")
    if name in _REGISTRY and not replace and _REGISTRY[name] != factory:
        raise StrategyError(f"strategy {name!r} is already registered (pass replace=True)")
    _REGISTRY[name] = factory


def unregister(name: str) -> None:
    """Forget ``name`` (a plug-in registered for a test or a session); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """Registered strategy names, sorted."""
    return tuple(sorted(_REGISTRY))


def resolve(name: str) -> Factory:
    """The factory of ``name`` (importing its module now); unknown names list the valid ones."""
    entry = _REGISTRY.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise StrategyError(f"unknown strategy {name!r}{hint}; registered: {', '.join(names())}")
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        factory: Factory = getattr(importlib.import_module(module), attr)
        return factory
    return entry


def create(name: str, **kwargs: Any) -> Strategy:
    """Construct the strategy registered as ``name`` with keyword arguments ``kwargs``."""
    return resolve(name)(**kwargs)
