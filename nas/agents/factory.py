"""Build a :class:`~nas.agents.nader_strategy.NaderStrategy` from the run configuration.

:func:`nader_from_config` maps ``strategy.nader`` (``dfs_ratio``, ``modifier_retries``,
``experiences_k``, ``knowledge``) and the run's LLM client onto the strategy:

* the client is built once, by the composition root (:func:`nas.llm.run_client.
  run_llm_client`: keyed ``llm_calls`` rows, the budget resumed from the store, the run's
  call memo); ``client=None`` runs the offline rule-based designer. Given only ``llm``
  (the config section) and no client, the client is built here by the same function;
* the experience pool is the store's :class:`store.experience.ExperiencePool` (embedder
  from ``llm.embed_model``) when a store and ``experience_dir`` are given, else in memory;
* the strategy draws from ``rng`` (a ``numpy.random.Generator``, as the other strategies
  get) when given, else from a generator seeded with ``seed``.

Tree events leave the strategy through ``pop_events`` (the controller stores them); this
module wires no store sink. :func:`make_nader` is the registry factory
(``create("nader", **kwargs)``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from nas.agents.experience import ExperiencePoolLike, MemoryExperiencePool
from nas.agents.knowledge import KnowledgePool, builtin_pool_notice
from nas.agents.nader_strategy import NaderStrategy
from nas.graph.limits import AnswerLimits
from nas.llm.client import LLMClient
from nas.llm.run_client import LLMSettings, budget_from_store, run_llm_client

__all__ = ["NaderSettings", "budget_from_store", "make_nader", "nader_from_config"]

log = logging.getLogger(__name__)


class NaderSettings(Protocol):
    """The ``strategy.nader`` config section (launcher's ``NaderConfig``)."""

    dfs_ratio: float
    modifier_retries: int
    experiences_k: int
    knowledge: str
    repair_temperature: float | None
    answer_limits: AnswerLimits


def nader_from_config(
    cfg_strategy_nader: NaderSettings,
    cfg_llm: LLMSettings | None = None,
    store: Any = None,
    run_id: str = "",
    recipe: Mapping[str, Any] | None = None,
    seed: int = 0,
    *,
    rng: np.random.Generator | None = None,
    base: str = "resnet_basic",
    macro: Mapping[str, Any] | None = None,
    max_params: float = 0.0,
    max_flops: float = 0.0,
    experience: ExperiencePoolLike | None = None,
    experience_dir: str | os.PathLike[str] | None = None,
    client: LLMClient | None = None,
    run_dir: str | os.PathLike[str] | None = None,
) -> NaderStrategy:
    """A NaderStrategy configured by ``strategy.nader`` and the run's LLM (see the module
    doc). ``store``/``run_id``: where experiences go (None: in memory)."""
    n = cfg_strategy_nader
    pool = KnowledgePool.load(n.knowledge) if n.knowledge else KnowledgePool.builtin()
    if client is None and cfg_llm is not None:
        client = run_llm_client(cfg_llm, store, run_id, run_dir)
    if client is not None and not n.knowledge:
        log.warning(builtin_pool_notice(len(pool.items)))
    if experience is None:
        if store is not None and run_id and experience_dir is not None:
            from store.embedders import make_embedder
            from store.experience import ExperiencePool

            if cfg_llm is None:
                embedder = make_embedder("")
            else:  # through the run's client: embedding requests are llm_calls rows too
                embedder = make_embedder(cfg_llm.embed_model, base_url=cfg_llm.base_url or None,
                                         api_key_env=cfg_llm.api_key_env, llm=client)  # fmt: skip
            experience = ExperiencePool(store, run_id, embedder, experience_dir)
        else:
            experience = MemoryExperiencePool()
    return NaderStrategy(
        base,
        pool=pool,
        experience=experience,
        llm=client,
        seed=int(seed),
        rng=rng,
        dfs_ratio=float(n.dfs_ratio),
        retries=int(n.modifier_retries),
        repair_temperature=n.repair_temperature,
        context_tokens=(cfg_llm.context_tokens or None) if cfg_llm is not None else None,
        experiences_k=int(n.experiences_k),
        recipe=recipe,
        macro=macro,
        max_params=max_params,
        max_flops=max_flops,
        answer_limits=n.answer_limits,
    )


def make_nader(
    *,
    rng: np.random.Generator | None = None,
    recipe: Mapping[str, Any] | None = None,
    seed: int = 0,
    nader: NaderSettings | None = None,
    llm: LLMSettings | None = None,
    store: Any = None,
    run_id: str = "",
    **kwargs: Any,
) -> NaderStrategy:
    """Registry factory: ``create("nader", rng=, recipe=, seed=, nader=cfg.strategy.nader,
    llm=cfg.llm or client=, store=, run_id=, base=, macro=, max_params=, max_flops=,
    experience_dir=, run_dir=)``. Without ``nader``: the strategy's own defaults, offline."""
    if nader is None:
        return NaderStrategy(rng=rng, recipe=recipe, seed=seed, **{
            k: v for k, v in kwargs.items() if k in ("base", "macro", "max_params", "max_flops")
        })  # fmt: skip
    return nader_from_config(nader, llm, store, run_id, recipe, seed, rng=rng, **kwargs)
