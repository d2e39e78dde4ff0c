"""Build a :class:`~nas.agents.nader_strategy.NaderStrategy` from the run configuration.

:func:`nader_from_config` maps ``strategy.nader`` (``dfs_ratio``, ``modifier_retries``,
``experiences_k``, ``knowledge``) and ``llm`` onto the strategy:

* the LLM client is ``LLMClient.from_config(llm, sink=<store's llm_calls>)``; with an empty
  ``llm.base_url`` the offline rule-based designer is used instead (no client), except in
  ``replay`` mode with a cassette, which needs no endpoint;
* on resume, the budget starts from the tokens and dollars already accounted in the run's
  ``llm_calls`` table, so ``llm.budget_tokens``/``budget_usd`` cap the whole run;
* the experience pool is the store's :class:`store.experience.ExperiencePool` (embedder
  from ``llm.embed_model``) when a store and ``experience_dir`` are given, else in memory;
* the strategy's ``random.Random`` is seeded from ``rng`` (a ``numpy.random.Generator``,
  as the other strategies get) when given, else from ``seed``.

:func:`make_nader` is the registry factory (``create("nader", **kwargs)``, see
:mod:`nas.agents.register`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from nas.agents.experience import ExperiencePoolLike, MemoryExperiencePool
from nas.agents.knowledge import KnowledgePool, builtin_pool_notice
from nas.agents.nader_strategy import NaderStrategy
from nas.llm.budget import LLMBudget
from nas.llm.client import LLMClient

__all__ = ["budget_from_store", "make_nader", "nader_from_config", "nader_llm"]

log = logging.getLogger(__name__)

# the defaults of launcher.config.schema (NaderConfig, LLMConfig), for callers without one
_NADER_DEFAULTS = {"dfs_ratio": 0.5, "modifier_retries": 3, "experiences_k": 5, "knowledge": ""}
_LLM_DEFAULTS = {
    "base_url": "", "model": "gpt-4o-mini", "api_key_env": "OPENAI_API_KEY", "mode": "live",
    "cassette": "", "temperature": 0.7, "seed": None, "timeout_s": 60.0, "max_retries": 4,
    "max_concurrency": 4, "budget_tokens": 0, "budget_usd": 0.0, "embed_model": "",
}  # fmt: skip


def _cfg(cfg: Any, defaults: Mapping[str, Any]) -> Any:
    """``cfg`` with missing fields filled from ``defaults`` (None -> all defaults)."""
    return SimpleNamespace(**{k: getattr(cfg, k, v) for k, v in defaults.items()})


def budget_from_store(cfg_llm: Any, store: Any = None, run_id: str = "") -> LLMBudget:
    """The run's LLM budget, already charged with the calls stored in ``llm_calls``."""
    c = _cfg(cfg_llm, _LLM_DEFAULTS)
    budget = LLMBudget(int(c.budget_tokens or 0), float(c.budget_usd or 0.0))
    read = getattr(store, "read", None)
    if read is not None and run_id:
        for row in read("llm_calls", run_id).to_pylist():
            if row.get("status") in ("ok", "empty"):
                budget.charge(
                    int(row.get("tokens_in") or 0),
                    int(row.get("tokens_out") or 0),
                    float(row.get("cost_usd") or 0.0),
                )
            else:
                budget.charge_failure()
    return budget


def nader_llm(cfg_llm: Any, store: Any = None, run_id: str = "") -> LLMClient | None:
    """The LLM client of the run, or None for the offline rule-based designer."""
    c = _cfg(cfg_llm, _LLM_DEFAULTS)
    if not c.base_url and not (c.mode == "replay" and c.cassette):
        return None
    sink = LLMClient.store_sink(store, run_id) if store is not None and run_id else None
    return LLMClient.from_config(c, sink=sink, budget=budget_from_store(c, store, run_id))


def nader_from_config(
    cfg_strategy_nader: Any,
    cfg_llm: Any,
    store: Any = None,
    run_id: str = "",
    recipe: Mapping[str, Any] | None = None,
    seed: int = 0,
    *,
    rng: Any = None,
    base: str = "resnet_basic",
    macro: Mapping[str, Any] | None = None,
    max_params: float = 0.0,
    max_flops: float = 0.0,
    experience: ExperiencePoolLike | None = None,
    experience_dir: str | os.PathLike[str] | None = None,
    llm: Any = None,
) -> NaderStrategy:
    """A NaderStrategy configured by ``strategy.nader`` and ``llm`` (see the module doc).

    ``store``/``run_id``: where LLM calls, tree events and experiences go (None: nowhere,
    in memory). ``llm``: an already built client, overriding ``cfg_llm`` (tests)."""
    n = _cfg(cfg_strategy_nader, _NADER_DEFAULTS)
    lc = _cfg(cfg_llm, _LLM_DEFAULTS)
    pool = KnowledgePool.load(n.knowledge) if n.knowledge else KnowledgePool.builtin()
    client = llm if llm is not None else nader_llm(lc, store, run_id)
    if client is not None and not n.knowledge:
        log.warning(builtin_pool_notice(len(pool.items)))
    if experience is None:
        if store is not None and run_id and experience_dir is not None:
            from store.embedders import make_embedder
            from store.experience import ExperiencePool

            embedder = make_embedder(
                lc.embed_model, base_url=lc.base_url or None, api_key_env=lc.api_key_env,
                llm=client,
            )  # fmt: skip
            experience = ExperiencePool(store, run_id, embedder, experience_dir)
        else:
            experience = MemoryExperiencePool()
    strategy_seed = int(seed) if rng is None else int(rng.integers(0, 2**31 - 1))
    strategy = NaderStrategy(
        base,
        pool=pool,
        experience=experience,
        llm=client,
        seed=strategy_seed,
        dfs_ratio=float(n.dfs_ratio),
        retries=int(n.modifier_retries),
        experiences_k=int(n.experiences_k),
        recipe=recipe,
        macro=macro,
        max_params=max_params,
        max_flops=max_flops,
    )
    strategy.seed = int(seed)  # candidates carry the run's seed; the RNG may derive from rng
    if store is not None and run_id:
        strategy.sink = lambda table, rows: store.append(table, run_id, rows)
    return strategy


def make_nader(
    *,
    rng: Any = None,
    recipe: Mapping[str, Any] | None = None,
    seed: int = 0,
    nader: Any = None,
    llm: Any = None,
    store: Any = None,
    run_id: str = "",
    **kwargs: Any,
) -> NaderStrategy:
    """Registry factory: ``create("nader", rng=, recipe=, seed=, nader=cfg.strategy.nader,
    llm=cfg.llm, store=, run_id=, base=, macro=, max_params=, max_flops=,
    experience_dir=)``; missing configs take the schema defaults (offline designer)."""
    return nader_from_config(nader, llm, store, run_id, recipe, seed, rng=rng, **kwargs)
