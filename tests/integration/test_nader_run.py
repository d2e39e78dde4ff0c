"""A NADER run of 20 candidates through the controller: offline (rule-based designer) and in
replay mode."""

from __future__ import annotations

import json
from pathlib import Path

from nas.agents.nader_strategy import PRE_DECIDED
from nas.agents.scenario import run_scenario
from nas.agents.tree import load_tree
from nas.llm import LLMClient
from nas.records import Candidate, TrialState

CASSETTES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"


def _evaluated(store):
    cands = {c["candidate_id"]: Candidate.from_row(c)
             for c in store.read("candidates", "nader-test").to_pylist()}  # fmt: skip
    trials = store.read("trials", "nader-test").to_pylist()
    decided = [r for r in trials if r["evaluator"] == PRE_DECIDED]
    return [cands[r["candidate_id"]] for r in trials if r["evaluator"] != PRE_DECIDED], decided


def _check_run(store, summary, strategy, agent: str) -> None:
    assert summary.reason == "done" and len(summary.state.with_result()) == 20
    evaluated, decided = _evaluated(store)
    assert len(evaluated) == 20
    tree = load_tree(store, "nader-test")
    assert len(tree) == 20 + len(decided) == len(strategy.tree)
    assert tree.root.agent == "seed" and tree.root.state == "COMPLETE"
    text = tree.render()
    assert "(root)" in text and "<-" in text
    cands = store.read("candidates", "nader-test").to_pylist()
    assert {c["origin_agent"] for c in cands} >= {agent}
    assert len(cands) == len({c["candidate_id"] for c in cands}) == 20 + len(decided)
    for r in decided:
        assert r["state"] in (TrialState.INVALID.value, TrialState.DUPLICATE.value)
    assert store.read("experiences", "nader-test").num_rows > 0


def test_offline_run_of_20(tmp_path) -> None:
    summary, strategy, store = run_scenario(tmp_path, llm=None)
    _check_run(store, summary, strategy, "rule-based-designer")
    assert store.read("llm_calls", "nader-test").num_rows == 0
    for c in _evaluated(store)[0]:
        assert (c.origin.agent == "rule-based-designer" and c.parents) or not c.parents


def test_replay_run_of_20(tmp_path) -> None:
    llm = LLMClient("gpt-4o-mini", mode="replay", cassette=CASSETTES / "nader_run20.json",
                    temperature=0.0, seed=0)  # fmt: skip
    summary, strategy, store = run_scenario(tmp_path, llm=llm)
    _check_run(store, summary, strategy, "modifier")
    calls = store.read("llm_calls", "nader-test").to_pylist()
    assert calls and all(c["cache_hit"] for c in calls)
    assert {c["agent"] for c in calls} >= {"modifier", "proposer"}
    # accounting sums every call: equal to the recorded responses' usage
    cas = json.loads((CASSETTES / "nader_run20.json").read_text())
    assert sum(c["tokens_in"] for c in calls) == llm.usage.tokens_in
    recorded_in = sum(e["response"]["usage"]["prompt_tokens"]
                      for v in cas["entries"].values() for e in v if e.get("response"))  # fmt: skip
    assert llm.usage.tokens_in <= recorded_in + 10_000  # repeats reuse the last exchange
    assert any(c.origin.agent == "modifier" for c in _evaluated(store)[0])
