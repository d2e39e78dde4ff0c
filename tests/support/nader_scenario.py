"""The reference NADER scenario used by tests and cassette recording: a run of ``budget``
candidates on ``resnet_basic`` with the proxy evaluator through the controller, storing
candidates, trials, the tree (events), experiences (real ExperiencePool, hashing
embedder) and LLM calls in a LocalResultStore under ``root``. ``llm=None`` runs the offline
rule-based designer.

The strategy is built by NADER's registry factory from its config section
(:func:`nas.agents.factory.from_config`), the path ``archlab launch`` takes; the scenario
injects what a config cannot name: the test's LLM client (a stand-in server or a cassette).
"""

from __future__ import annotations

import os

import numpy as np

from nas.agents.config import NaderConfig
from nas.agents.factory import from_config
from nas.agents.nader_strategy import NaderStrategy
from nas.agents.proxy_eval import ProxyEvaluator
from nas.agents.run import run_nader
from nas.controller import RunSummary
from nas.llm.client import LLMClient
from nas.strategies.registry import StrategyParts
from store.embedders import HashingEmbedder
from store.result_store import LocalResultStore

__all__ = ["run_scenario"]


def run_scenario(
    root: str | os.PathLike[str], llm: LLMClient | None = None, budget: int = 20,
    run_id: str = "nader-test", seed: int = 0, base: str = "resnet_basic", retries: int = 2,
    repair_temperature: float | None = None, context_tokens: int | None = None,
    answer: str = "block", max_calls_per_design: int = 0, max_tokens_per_design: int = 0,
    answer_version: int = NaderConfig.answer_version,
) -> tuple[RunSummary, NaderStrategy, LocalResultStore]:  # fmt: skip
    store = LocalResultStore(os.path.join(root, "tables"))
    if llm is not None:
        llm.sink = lambda rows: [
            store.append("llm_calls", run_id, [r], key=f"llm-{r['call_id']}") for r in rows
        ]
    parts = StrategyParts(
        rng=np.random.default_rng(seed), seed=seed, llm=lambda: llm,
        context_tokens=context_tokens or 0, store=store, run_id=run_id,
        experience_dir=os.path.join(root, "experience"), embedder=HashingEmbedder, base=base,
    )  # fmt: skip
    config = NaderConfig(modifier_retries=retries, repair_temperature=repair_temperature,
                         answer=answer, max_calls_per_design=max_calls_per_design,
                         max_tokens_per_design=max_tokens_per_design,
                         answer_version=answer_version)  # fmt: skip
    strategy = from_config(config, parts)
    summary = run_nader(strategy, ProxyEvaluator(), store, run_id, budget,
                        os.path.join(root, "run"))  # fmt: skip
    return summary, strategy, store
