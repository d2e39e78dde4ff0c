"""Build a :class:`~nas.agents.nader_strategy.NaderStrategy` from its config section.

:func:`from_config` is NADER's registry factory (``strategy.nader`` plus the run's
:class:`~nas.strategies.registry.StrategyParts`); it maps ``dfs_ratio``,
``modifier_retries``, ``experiences_k``, ``knowledge``, ``repair_temperature`` and the
Modifier's ``answer``, ``reask_temperature``, ``max_calls_per_design``,
``max_tokens_per_design`` and ``think`` onto the strategy:

* the LLM client comes built from the composition root (``launcher/build.py``: keyed
  ``llm_calls`` rows, the budget resumed from the store, the run's call memo); no client
  runs the offline rule-based designer;
* the experience pool is the store's :class:`store.experience.ExperiencePool` (the run's
  embedder, also built by the composition root) when the parts carry a store, a run id
  and an ``experience_dir``, else in memory;
* the strategy draws from ``parts.rng``.

Tree events leave the strategy through ``pop_events`` (the controller stores them); this
module wires no store sink.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from nas.agents.config import NaderConfig
from nas.agents.experience import ExperiencePoolLike, MemoryExperiencePool
from nas.agents.knowledge import KnowledgePool, builtin_pool_notice
from nas.agents.nader_strategy import NaderStrategy

if TYPE_CHECKING:
    from nas.strategies.registry import StrategyParts

__all__ = ["from_config"]

log = logging.getLogger(__name__)


def from_config(config: NaderConfig, parts: StrategyParts) -> NaderStrategy:
    """A NaderStrategy configured by ``strategy.nader`` and the run's parts (module doc)."""
    pool = KnowledgePool.load(config.knowledge) if config.knowledge else KnowledgePool.builtin()
    client = parts.llm()
    if client is not None and not config.knowledge:
        log.warning(builtin_pool_notice(len(pool.items)))
    experience: ExperiencePoolLike
    if parts.store is not None and parts.run_id and parts.experience_dir is not None:
        from store.embedders import HashingEmbedder
        from store.experience import ExperiencePool

        embedder = parts.embedder() if parts.embedder is not None else HashingEmbedder()
        experience = ExperiencePool(parts.store, parts.run_id, embedder, parts.experience_dir)
    else:
        experience = MemoryExperiencePool()
    return NaderStrategy(
        parts.base,
        pool=pool,
        experience=experience,
        llm=client,
        seed=int(parts.seed),
        rng=parts.rng,
        dfs_ratio=float(config.dfs_ratio),
        retries=int(config.modifier_retries),
        repair_temperature=config.repair_temperature,
        answer=config.answer,
        answer_version=config.answer_version,
        block_reask=config.block_reask,
        reask_temperature=config.reask_temperature,
        max_calls_per_design=int(config.max_calls_per_design),
        max_tokens_per_design=int(config.max_tokens_per_design),
        think=bool(config.think),
        change_first=bool(config.change_first),
        context_tokens=parts.context_tokens or None,
        experiences_k=int(config.experiences_k),
        recipe=parts.recipe,
        macro=parts.macro,
        max_params=parts.max_params,
        max_flops=parts.max_flops,
        answer_limits=config.answer_limits,
    )
