"""The reference NADER scenario used by tests, cassette recording and the docs: a run of
``budget`` candidates on ``resnet_basic`` with the proxy evaluator through the controller,
storing candidates, trials, the tree (events), experiences (real ExperiencePool, hashing
embedder) and LLM calls in a LocalResultStore under ``root``. ``llm=None`` runs the offline
rule-based designer."""

from __future__ import annotations

import os
from typing import Any

from nas.agents.nader_strategy import NaderStrategy
from nas.agents.proxy_eval import ProxyEvaluator
from nas.agents.run import run_nader
from nas.controller import RunSummary
from store.result_store import LocalResultStore

__all__ = ["run_scenario"]


def run_scenario(
    root: str | os.PathLike[str], llm: Any = None, budget: int = 20, run_id: str = "nader-test",
    seed: int = 0, base: str = "resnet_basic", retries: int = 2,
    repair_temperature: float | None = None, context_tokens: int | None = None,
    answer: str = "block", max_calls_per_design: int = 0, max_tokens_per_design: int = 0,
) -> tuple[RunSummary, NaderStrategy, LocalResultStore]:  # fmt: skip
    from store.embedders import HashingEmbedder
    from store.experience import ExperiencePool

    store = LocalResultStore(os.path.join(root, "tables"))
    pool = ExperiencePool(store, run_id, HashingEmbedder(), os.path.join(root, "experience"))
    if llm is not None:
        llm.sink = lambda rows: [
            store.append("llm_calls", run_id, [r], key=f"llm-{r['call_id']}") for r in rows
        ]
    strategy = NaderStrategy(
        base,
        llm=llm,
        experience=pool,
        seed=seed,
        retries=retries,
        repair_temperature=repair_temperature,
        context_tokens=context_tokens,
        answer=answer,
        max_calls_per_design=max_calls_per_design,
        max_tokens_per_design=max_tokens_per_design,
    )
    summary = run_nader(strategy, ProxyEvaluator(), store, run_id, budget,
                        os.path.join(root, "run"))  # fmt: skip
    return summary, strategy, store
