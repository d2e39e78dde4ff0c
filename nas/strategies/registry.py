"""A registry that constructs only the chosen strategy: name -> (config class, factory).

Each strategy module declares its settings once, as a frozen config dataclass beside the
strategy (``REAConfig`` in :mod:`nas.strategies.rea`, ...), and a factory
``from_config(config, parts) -> Strategy`` that maps those settings onto the constructor.
:class:`StrategyParts` carries what the run gives every strategy besides its own section:
the generator, the seed, the recipe, the space, the LLM client, LAPT's source task,
NADER's store and embedder. The launcher's composition root (``launcher/build.py``) is the
only caller that builds a strategy from a run config; it goes through :func:`build`.

Built-in names map to lazy ``"module:attribute"`` paths inside this package, so choosing
``random`` never imports LAPT's or LLMatic's code; packages above this one add theirs with
:func:`register` (the agents package registers ``nader`` from ``nas.agents.register``; the
launcher imports that module — this package names nothing above itself).

    >>> import numpy as np
    >>> s = create("random", rng=np.random.default_rng(0))
    >>> s.name
    'random'
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nas.strategies.base import Strategy, StrategyError

if TYPE_CHECKING:
    from nas.llm.client import LLMClient
    from nas.spaces.base import SearchSpace
    from nas.strategies.principles import SourceTask
    from store.embedders import Embedder
    from store.result_store import ResultStore

__all__ = [
    "StrategyEntry",
    "StrategyParts",
    "build",
    "create",
    "entry",
    "names",
    "register",
    "searched_space",
    "unregister",
]


@dataclass(frozen=True)
class StrategyParts:
    """What a run gives a strategy besides its own config section (built by the launcher).

    Thunks (``llm``, ``source``, ``embedder``) are called only by the strategies that use
    them, so a random search never opens an LLM client or reads LAPT's source table."""

    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    seed: int = 0  # the run's seed (candidate seeds derive from it)
    recipe: Mapping[str, Any] = field(default_factory=dict)  # hashed into every candidate id
    space: SearchSpace | None = None  # the searched space; None = blocks (NADER designs them)
    llm: Callable[[], LLMClient | None] = lambda: None  # the run's chat client (None = offline)
    context_tokens: int = 0  # the model's context window (0 = prompts are not fitted)
    source: Callable[[], SourceTask] | None = None  # LAPT's source task (read on demand)
    store: ResultStore | None = None  # the run's store (NADER's experience pool lives there)
    run_id: str = ""  # the run the store rows belong to
    experience_dir: str | None = None  # NADER's hnswlib index folder (None = pool in memory)
    embedder: Callable[[], Embedder] | None = None  # embeddings of NADER's experience pool
    base: str = "resnet_basic"  # NADER: the seed block (name or block file)
    macro: Mapping[str, Any] | None = None  # NADER: the skeleton its blocks are placed in
    max_params: float = 0.0  # per-architecture parameter ceiling (0 = none)
    max_flops: float = 0.0  # per-architecture FLOPs ceiling (0 = none)


Factory = Callable[[Any, StrategyParts], Strategy]


@dataclass(frozen=True)
class StrategyEntry:
    """One registered strategy: its config dataclass and ``factory(config, parts)``."""

    config: type  # the frozen dataclass of section ``strategy.<name>``
    factory: Factory


_LAZY: dict[str, tuple[str, str]] = {
    "random": ("nas.strategies.random_search:RandomConfig", "nas.strategies.random_search:from_config"),
    "rea": ("nas.strategies.rea:REAConfig", "nas.strategies.rea:from_config"),
    "lapt": ("nas.strategies.lapt:LaptConfig", "nas.strategies.lapt:from_config"),
    "llmatic": ("nas.strategies.llmatic:LlmaticConfig", "nas.strategies.llmatic:from_config"),
}  # fmt: skip
_REGISTRY: dict[str, StrategyEntry | tuple[str, str]] = dict(_LAZY)


def register(name: str, config: type | str, factory: Factory | str, *,
             replace: bool = False) -> None:  # fmt: skip
    """Make ``build(name, config, parts)`` call ``factory(config, parts)``.

    ``config`` is the strategy's config dataclass, ``factory`` a callable; either may be a
    lazy ``"package.module:attribute"`` path. Re-registering a name with another factory
    needs ``replace=True``."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise StrategyError(f"strategy name {name!r}: use letters, digits, '-' or '_'")
    new: StrategyEntry | tuple[str, str]
    if isinstance(config, str) and isinstance(factory, str):
        new = (config, factory)
    else:
        new = StrategyEntry(_load(config), _load(factory))
    if name in _REGISTRY and not replace and _REGISTRY[name] != new:
        raise StrategyError(f"strategy {name!r} is already registered (pass replace=True)")
    _REGISTRY[name] = new


def _load(ref: Any) -> Any:
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def unregister(name: str) -> None:
    """Forget ``name`` (a plug-in registered for a test or a session); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """Registered strategy names, sorted."""
    return tuple(sorted(_REGISTRY))


def entry(name: str) -> StrategyEntry:
    """The entry of ``name`` (importing its module now); unknown names list the valid ones."""
    found = _REGISTRY.get(name)
    if found is None:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise StrategyError(f"unknown strategy {name!r}{hint}; registered: {', '.join(names())}")
    if isinstance(found, tuple):
        found = StrategyEntry(_load(found[0]), _load(found[1]))
        _REGISTRY[name] = found
    return found


def build(name: str, config: object, parts: StrategyParts) -> Strategy:
    """The strategy ``name`` configured by ``config`` (an instance of its config class)."""
    e = entry(name)
    if not isinstance(config, e.config):
        raise StrategyError(
            f"strategy {name!r} takes a {e.config.__name__}, not a {type(config).__name__}"
        )
    return e.factory(config, parts)


def create(name: str, **kwargs: Any) -> Strategy:
    """Shorthand for tests and scripts: ``kwargs`` name config fields (``population_size``)
    and parts (``rng``, ``seed``, ``space`` — default NAS-Bench-201 cells —, ``source``,
    ``llm`` as a client); anything else is refused with the valid names."""
    e = entry(name)
    own = {f.name for f in dataclasses.fields(e.config)}
    part_names = {f.name for f in dataclasses.fields(StrategyParts)}
    unknown = sorted(set(kwargs) - own - part_names)
    if unknown:
        raise StrategyError(
            f"strategy {name!r}: unknown option(s) {', '.join(unknown)}; settings: "
            f"{', '.join(sorted(own)) or 'none'}; parts: {', '.join(sorted(part_names))}"
        )
    part_kw = {k: v for k, v in kwargs.items() if k in part_names}
    for thunk in ("llm", "source", "embedder"):  # given as values here, thunks in parts
        if thunk in part_kw and not callable(part_kw[thunk]):
            part_kw[thunk] = _const(part_kw[thunk])
    if "space" not in part_kw:  # the shorthand's default: NAS-Bench-201 cells
        from nas.spaces.nb201 import NB201Space

        part_kw["space"] = NB201Space()
    if "rng" in part_kw and not isinstance(part_kw["rng"], np.random.Generator):
        part_kw["rng"] = np.random.default_rng(part_kw["rng"])
    config = e.config(**{k: v for k, v in kwargs.items() if k in own})
    return e.factory(config, StrategyParts(**part_kw))


def searched_space(parts: StrategyParts, who: str) -> SearchSpace:
    """``parts.space``, or a :class:`StrategyError` naming the fix when the run searches
    blocks (``space.kind=block``), which only NADER designs."""
    if parts.space is None:
        raise StrategyError(
            f"{who} needs a categorical space: space.kind=block has none (NADER designs "
            "blocks: strategy.name=nader); use space.kind=nb201"
        )
    return parts.space


def _const(value: Any) -> Callable[[], Any]:
    return lambda: value
