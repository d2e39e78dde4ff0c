"""NaderStrategy as a Strategy: protocol, rebuild from stored history, config factory and
registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nas.agents.config import NaderConfig
from nas.agents.factory import from_config
from nas.agents.nader_strategy import NaderStrategy
from nas.agents.tree import TREE_EVENT
from nas.llm.run_client import budget_from_store
from nas.records import Candidate, TrialRecord, TrialState
from nas.strategies import CallOrderError, Strategy
from nas.strategies.registry import StrategyParts


def _score(c: Candidate) -> float:
    return 0.5 + (int(c.arch_hash[:6], 16) % 400) / 1000.0


def _drive(s: NaderStrategy, rounds: int) -> tuple[list[Any], list[Any]]:
    """ask(2)/tell rounds as the controller does; returns the stored history and events."""
    events: list[Any] = []
    history: list[tuple[Candidate, TrialRecord]] = []
    for _ in range(rounds):
        cands = s.ask(2)
        decided = s.pop_decided()
        history += decided
        s.tell(decided)
        results = [(c, TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": _score(c)}))
                   for c in cands]  # fmt: skip
        s.tell(results[::-1])
        history += results[::-1]
        events += s.pop_events()
    stored = [(Candidate.from_row(c.to_row()), TrialRecord.from_row(r.to_row()))
              for c, r in history]  # fmt: skip
    return stored, events


def test_nader_satisfies_the_strategy_protocol() -> None:
    from nas.strategies.base import BaseStrategy

    s = NaderStrategy(seed=0)
    assert isinstance(s, Strategy) and isinstance(s, BaseStrategy)
    assert s.pop_decided() == [] and s.llm_cost_usd == 0.0


def test_rebuild_reproduces_state_and_next_asks() -> None:
    a = NaderStrategy(seed=3, dfs_ratio=0.5)
    history, events = _drive(a, 5)
    assert len(a.tree) >= 9 and all(k == TREE_EVENT for k, _ in events)
    b = NaderStrategy(seed=3, dfs_ratio=0.5)  # same config; its RNG is still at the start
    b.rebuild(history, events=events)
    assert b.state_summary() == a.state_summary()
    assert b.pop_events() == [] and b.pop_decided() == []  # rebuilding emits nothing
    # same RNG state -> the same next candidates (and the same decisions)
    b.set_random_state(a.random_state())
    na, nb = a.ask(3), b.ask(3)
    assert [c.id for c in na] == [c.id for c in nb] and na
    assert [c.id for c, _ in a.pop_decided()] == [c.id for c, _ in b.pop_decided()]
    # the rebuilt strategy takes results of its own asks, and refuses strangers
    b.tell([TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": 0.7}) for c in nb])
    stranger = Candidate("block", "##x##\n", "h")
    with pytest.raises(CallOrderError):
        b.tell([TrialRecord(stranger.id, TrialState.COMPLETE, metrics={"val_acc": 0.5})])
    with pytest.raises(CallOrderError):
        b.rebuild(history)  # only a fresh strategy can be rebuilt


def test_rebuild_without_events_and_with_pending() -> None:
    a = NaderStrategy(seed=5)
    history, _ = _drive(a, 3)
    pending = a.ask(2)
    b = NaderStrategy(seed=5)
    b.rebuild(history, pending=pending)  # tree order from created_at; used from the origins
    sa, sb = a.state_summary(), b.state_summary()
    assert [n["candidate_id"] for n in sb["tree"]] == [n["candidate_id"] for n in sa["tree"]]
    assert sb["hashes"] == sa["hashes"] and sb["asked"] == sa["asked"]
    assert b.rebuild_orphans == 0
    b.tell([(c, TrialRecord(c.id, TrialState.FAILED, error="oom")) for c in pending])


def test_factory_maps_the_config(tmp_path: Path) -> None:
    kn = tmp_path / "k.jsonl"
    kn.write_text('{"id": "7", "text": "add a squeeze-and-excitation gate", "paper_id": "p1"}\n'
                  '{"id": "8", "text": "use a dilated 3x3 branch", "paper_id": "p2"}\n')  # fmt: skip
    cfg = NaderConfig(dfs_ratio=0.25, modifier_retries=1, experiences_k=2, knowledge=str(kn))
    s = from_config(cfg, StrategyParts(rng=np.random.default_rng(4), seed=4,
                                       recipe={"dataset": "demo"}))  # fmt: skip
    assert s.llm is None and s.agent == "rule-based-designer"  # empty base_url: offline
    assert s.proposer.dfs_ratio == 0.25 and s.modifier.retries == 1
    assert s.reflector.k == 2 and s.experiences_k == 2
    assert [i.paper_id for i in s.pool.items] == ["p1", "p2"]
    [root] = s.ask(1)
    assert root.seed == 4 and root.recipe["dataset"] == "demo"
    same = from_config(cfg, StrategyParts(rng=np.random.default_rng(1)))
    again = from_config(cfg, StrategyParts(rng=np.random.default_rng(1)))
    assert same.random_state() == again.random_state()
    assert same.pyrng.random() == again.pyrng.random()  # the agents draw from that generator


def test_the_builder_gives_nader_the_llm_client_and_resumes_the_budget(tmp_path: Path) -> None:
    from launcher.build import build_strategy
    from launcher.config import load_config
    from nas.llm.config import LLMConfig
    from store.result_store import LocalResultStore

    store = LocalResultStore(tmp_path / "tables")
    store.append("llm_calls", "r1", [
        {"call_id": "c1", "agent": "modifier", "model": "gpt-4o-mini", "prompt_id": "modifier@1",
         "tokens_in": 100, "tokens_out": 20, "cost_usd": 0.001, "latency_s": 0.1,
         "cache_hit": False, "status": "ok", "error": "", "candidate_id": None,
         "created_at": 1.0},
    ])  # fmt: skip
    url = "http://127.0.0.1:9/v1"
    cfg = load_config(overrides=["strategy.name=nader", "space.kind=block", f"llm.base_url={url}",
                                 "llm.temperature=0.1", "llm.seed=5", "llm.budget_tokens=1000"])  # fmt: skip
    s = build_strategy(cfg, store, "r1", tmp_path)
    assert isinstance(s, NaderStrategy) and s.llm is not None and s.agent == "modifier"
    assert (s.llm.temperature, s.llm.seed, s.llm.base_url) == (0.1, 5, url)
    assert s.llm.usage.tokens == 120 and s.llm.budget.max_tokens == 1000
    assert type(s.experience).__name__ == "ExperiencePool"
    assert budget_from_store(LLMConfig(), store, "r1").usage.calls == 1


def test_registered_with_the_strategy_registry() -> None:
    import nas.agents.register  # noqa: F401
    from nas.strategies import create, names

    assert "nader" in names()
    s = create("nader", rng=np.random.default_rng(0), recipe={"r": 1}, seed=2)
    assert isinstance(s, NaderStrategy) and s.llm is None
    [root] = s.ask(1)
    assert root.origin.strategy == "nader" and root.seed == 2
    assert isinstance(from_config(NaderConfig(), StrategyParts(seed=1)), NaderStrategy)
