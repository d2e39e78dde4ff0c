"""A NADER run of 20 candidates: offline (rule-based designer) and in replay mode."""

from __future__ import annotations

import json
from pathlib import Path

from nas.agents.scenario import run_scenario
from nas.agents.tree import load_tree
from nas.llm import LLMClient
from nas.records import TrialState

CASSETTES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"


def _check_run(store, result, wrapped, agent: str) -> None:
    assert len(result.records) == 20
    tree = load_tree(store, "nader-test")
    assert 21 <= len(tree) <= 20 + len(wrapped.decided)
    assert tree.root.agent == "seed" and tree.root.state == "COMPLETE"
    text = tree.render()
    assert "(root)" in text and "<-" in text
    cands = store.read("candidates", "nader-test").to_pylist()
    assert {c["origin_agent"] for c in cands} >= {agent}
    trials = store.read("trials", "nader-test").to_pylist()
    assert len(trials) == 20 + len(wrapped.decided)
    for _c, r in wrapped.decided:
        assert r.state in (TrialState.INVALID, TrialState.DUPLICATE)
    assert store.read("experiences", "nader-test").num_rows > 0


def test_offline_run_of_20(tmp_path) -> None:
    result, wrapped, store = run_scenario(tmp_path, llm=None)
    _check_run(store, result, wrapped, "rule-based-designer")
    assert store.read("llm_calls", "nader-test").num_rows == 0
    for c, _ in result.records[1:]:
        assert c.origin.agent == "rule-based-designer" and c.parents


def test_replay_run_of_20(tmp_path) -> None:
    llm = LLMClient("gpt-4o-mini", mode="replay", cassette=CASSETTES / "nader_run20.json",
                    temperature=0.0, seed=0)  # fmt: skip
    result, wrapped, store = run_scenario(tmp_path, llm=llm)
    _check_run(store, result, wrapped, "modifier")
    calls = store.read("llm_calls", "nader-test").to_pylist()
    assert calls and all(c["cache_hit"] for c in calls)
    assert {c["agent"] for c in calls} >= {"modifier", "proposer"}
    # accounting sums every call: equal to the recorded responses' usage
    cas = json.loads((CASSETTES / "nader_run20.json").read_text())
    assert sum(c["tokens_in"] for c in calls) == llm.usage.tokens_in
    recorded_in = sum(e["response"]["usage"]["prompt_tokens"]
                      for v in cas["entries"].values() for e in v if e.get("response"))  # fmt: skip
    assert llm.usage.tokens_in <= recorded_in + 10_000  # repeats reuse the last exchange
    assert any(c.origin.agent == "modifier" for c, _ in result.records)
