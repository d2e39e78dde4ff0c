"""A NADER run through the controller: 20 candidates offline (rule-based designer), and the
run the project's real local model made (Qwen2.5-Coder-1.5B-Instruct, recorded by
``tests/fixtures/llm/record_real_cassettes.py``) replayed from its cassette."""

from __future__ import annotations

import json
from pathlib import Path

from nas.agents.nader_strategy import PRE_DECIDED
from nas.agents.tree import load_tree
from nas.llm import LLMClient
from nas.records import Candidate, TrialState
from tests.support.nader_scenario import run_scenario

CASSETTES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"


def _evaluated(store):
    cands = {c["candidate_id"]: Candidate.from_row(c)
             for c in store.read("candidates", "nader-test").to_pylist()}  # fmt: skip
    trials = store.read("trials", "nader-test").to_pylist()
    decided = [r for r in trials if r["evaluator"] == PRE_DECIDED]
    return [cands[r["candidate_id"]] for r in trials if r["evaluator"] != PRE_DECIDED], decided


def _check_run(store, summary, strategy, agent: str, budget: int = 20) -> None:
    assert summary.reason == "done" and len(summary.state.with_result()) == budget
    evaluated, decided = _evaluated(store)
    assert len(evaluated) == budget
    tree = load_tree(store, "nader-test")
    assert len(tree) == budget + len(decided) == len(strategy.tree)
    assert tree.root.agent == "seed" and tree.root.state == "COMPLETE"
    text = tree.render()
    assert "(root)" in text and "<-" in text
    cands = store.read("candidates", "nader-test").to_pylist()
    assert {c["origin_agent"] for c in cands} >= {agent}
    assert len(cands) == len({c["candidate_id"] for c in cands}) == budget + len(decided)
    for r in decided:
        assert r["state"] in (TrialState.INVALID.value, TrialState.DUPLICATE.value)
    assert store.read("experiences", "nader-test").num_rows > 0


def test_offline_run_of_20(tmp_path) -> None:
    summary, strategy, store = run_scenario(tmp_path, llm=None)
    _check_run(store, summary, strategy, "rule-based-designer")
    assert store.read("llm_calls", "nader-test").num_rows == 0
    for c in _evaluated(store)[0]:
        assert (c.origin.agent == "rule-based-designer" and c.parents) or not c.parents


REAL = CASSETTES / "nader_run_real.json"


def test_the_real_models_nader_run_replays(tmp_path) -> None:
    """The NADER scenario as the project's local model ran it (proxy evaluator, temperature 0,
    recorded by ``record_real_cassettes.py nader``): replaying the cassette through the
    controller gives a complete run -- tree, experiences, llm_calls -- with no live call,
    and the outcomes the model produced."""
    meta = json.loads(REAL.read_text(encoding="utf-8"))["recorded_with"]
    assert meta["model"] == "qwen2.5-coder-1.5b-instruct-q4_k_m" and "Q4_K_M" in meta["model_note"]
    st = meta["settings"]
    llm = LLMClient(meta["model"], mode="replay", cassette=REAL, temperature=st["temperature"],
                    seed=st["seed"], max_tokens=st["max_tokens"])  # fmt: skip
    summary, strategy, store = run_scenario(
        tmp_path, llm=llm, budget=st["budget"], retries=st["retries"],
        repair_temperature=st["repair_temperature"], context_tokens=st["context_tokens"],
        answer_version=1,  # recorded with modifier@3 and the free block form
    )  # fmt: skip
    _check_run(store, summary, strategy, "modifier", budget=st["budget"])
    calls = sorted(store.read("llm_calls", "nader-test").to_pylist(), key=lambda c: c["created_at"])
    assert calls and all(c["cache_hit"] and c["status"] == "ok" for c in calls)
    # What the 1.5B model did: both designs were invalid as first written and valid after
    # one repair turn (sampled at 0.7: at 0 it repeats itself), then the stem/downsample were
    # derived; both scored below the block they modified, so the Reflector wrote degrade tips.
    assert [c["prompt_id"] for c in calls] == [
        "proposer_rank@2", "modifier@3", "modifier_repair@1", "modifier_derive@2",
        "reflector_invalid@1", "reflector_degrade@1",
        "proposer_rank@2", "modifier@3", "modifier_repair@1", "modifier_derive@2",
        "reflector_invalid@1",
    ]  # fmt: skip
    # the Proposer and the Reflector asked for their answer forms; the cassette was recorded
    # before constraints, so replay sent none, and each row says why and whether the
    # recorded answer obeyed the form anyway
    asked = {c["agent"]: c["constraint_name"] for c in calls if c["agent"] != "modifier"}
    assert asked == {"proposer": "ranking@1", "reflector": "tips@1"}
    for c in calls:
        if c["agent"] != "modifier":
            assert c["constraint_mode"].startswith("none: server kind unknown (replay")
            assert isinstance(c["obeyed"], bool)
    scores = {
        r["candidate_id"]: r["val_acc"] for r in store.read("trials", "nader-test").to_pylist()
    }
    tree = load_tree(store, "nader-test")
    root = tree.root.id
    designed = [c for c in _evaluated(store)[0] if c.parents]
    assert len(designed) == 2 and all(c.origin.agent == "modifier" for c in designed)
    assert all(scores[c.id] < scores[root] for c in designed)
    assert {c.origin.suggestion.split(":")[0] for c in designed} == {"builtin-1", "builtin-2"}
    kinds = {e["kind"] for e in store.read("experiences", "nader-test").to_pylist()}
    assert kinds == {"failure", "fail2success"}
