"""A few real calls to the local model (``scripts/llm-up.sh``: Qwen2.5-Coder-1.5B-Instruct,
Q4_K_M, one CPU thread) through each LLM method's own code path and the real ``openai``
client: NADER's Modifier conversation (with its repair turns), LAPT's LLM principle learner,
LLMatic's LLM mutation. What a real model answers is not scripted, so the tests assert what
must hold for *any* answer: one ``llm_calls`` row per call with the server's token counts,
an answer that is either used (parsed and valid) or recorded as a failure with its reason,
and never a crash. Bounded to ~5 minutes in all (small answer caps, no HTTP retries).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from nas.agents.nader_strategy import NaderStrategy, validate_file
from nas.graph.block import BlockRole
from nas.llm import LLMBudget
from nas.prompts.templates import load_prompt
from nas.records import TrialRecord, TrialState
from nas.spaces import NB201Space
from nas.spaces.nb201 import to_ops
from nas.strategies.lapt import LAPT
from nas.strategies.llm import LLMCompletion
from nas.strategies.llmatic import LLMatic
from nas.strategies.operators import LLMOperators
from nas.strategies.principles import LLMPrincipleLearner, SourceTask
from tests.live.conftest import LiveModel

pytestmark = [pytest.mark.llm_live, pytest.mark.timeout(1200)]

SPACE = NB201Space()


def _ref(prompt: str) -> str:
    """The ``id@version`` the code sends now (the newest prompt file), e.g. ``modifier@3``."""
    return load_prompt(prompt).ref


def _check_rows(rows: list[dict[str, Any]], live: LiveModel, agent: str) -> None:
    """Every call is one row; a successful one carries the server's real token counts."""
    assert rows, "no llm_calls row was written"
    for r in rows:
        assert r["agent"] == agent and r["call_id"] and r["latency_s"] > 0
        if r["status"] == "ok":
            assert r["model"] == live.model
            assert r["tokens_in"] > 50 and r["tokens_out"] > 0, r
        else:  # a failed call (timeout, server error) is a record with its reason
            assert r["status"] in ("empty", "timeout", "server_error", "connection", "bad_request")
            assert r["error"], r


def _summary(rows: list[dict[str, Any]]) -> str:
    tin = sum(r["tokens_in"] for r in rows)
    tout = sum(r["tokens_out"] for r in rows)
    secs = sum(r["latency_s"] for r in rows)
    statuses = ",".join(r["status"] for r in rows)
    return f"{len(rows)} call(s) [{statuses}], {tin} in + {tout} out tokens, {secs:.0f} s"


def test_nader_modifier_conversation_with_repairs(live_model: LiveModel) -> None:
    rows: list[dict[str, Any]] = []
    client = live_model.client(rows, temperature=0.7, max_tokens=400)
    nader = NaderStrategy("resnet_basic", llm=client, retries=1)  # the run's own wiring
    t0 = time.perf_counter()
    res = nader.modifier.modify(
        nader.base_blocks,
        "Recalibrate channel responses with a squeeze-and-excitation gate so the block "
        "emphasizes informative channels at negligible cost.",
        ["Keep every Add and Mul input the same shape (C channels, same spatial size)."],
        candidate_id="live-1",
    )
    secs = time.perf_counter() - t0
    _check_rows(rows, live_model, "modifier")
    assert len(rows) == res.turns and 1 <= res.turns <= 4  # 2 steps x (1 + 1 repair)
    prompts = [r["prompt_id"] for r in rows]
    modifier, repair, derive = (_ref(p) for p in ("modifier", "modifier_repair", "modifier_derive"))
    assert prompts[0] == modifier
    reask = _ref("modifier_reask")  # a repeated answer is re-asked, never sent back
    assert set(prompts) <= {modifier, repair, derive, reask}
    assert all(r["candidate_id"] == "live-1" for r in rows)
    ok = [r for r in rows if r["status"] == "ok"]
    assert (res.tokens_in, res.tokens_out) == (
        sum(r["tokens_in"] for r in ok),
        sum(r["tokens_out"] for r in ok),
    )
    if res.status == "ok":  # the design is a complete, valid block file
        assert res.blocks is not None and validate_file(res.blocks, nader.macro) == []
        assert {g.role for g in res.blocks.values()} == set(BlockRole)
        # a repair turn only follows an invalid answer, which is kept for the Reflector
        assert res.repaired == (prompts[1:2] in ([repair], [reask]))
        assert not res.repaired or res.first_invalid
    else:  # no valid block after the repair turns: recorded with the validator's reasons
        assert res.status == "invalid" and (res.errors or res.call_errors)
        assert res.first_invalid or res.call_errors
    live_model.outcomes.append(
        f"nader modifier: {res.status}, repaired={res.repaired}, {_summary(rows)}, "
        f"{secs:.0f} s wall; errors: {(res.errors + res.call_errors)[:2]}; "
        f"first invalid answer: {res.first_invalid[:300]!r}"
    )


def _source() -> SourceTask:
    rng = np.random.default_rng(3)
    archs = tuple(SPACE.sample(rng) for _ in range(200))
    return SourceTask(
        "imagenet16", archs, tuple(to_ops(a).count("nor_conv_3x3") / 6 for a in archs)
    )


def test_lapt_learns_principles_from_the_real_model(live_model: LiveModel) -> None:
    rows: list[dict[str, Any]] = []
    client = live_model.client(rows, max_tokens=400)
    learner = LLMPrincipleLearner(LLMCompletion(client, "lapt"), temperature=0.2)
    t0 = time.perf_counter()
    s = LAPT(source=_source(), learner=learner, top_k=4, adapt_every=10, rng=0)
    secs = time.perf_counter() - t0
    _check_rows(rows, live_model, "lapt")
    assert [r["prompt_id"] for r in rows] == [_ref("lapt_principles")]
    p = s.principles
    assert len(p.allowed) == len(SPACE.positions) and all(p.allowed) and p.size() >= 1
    if p.learner == "llm-principle-learner":  # the answer parsed into a refined space
        assert not learner.failures and p.text.strip()
    else:  # unusable answer or failed call: the fallback is recorded where a user looks
        [failure] = learner.failures
        assert "fell back to statistical-principle-learner" in failure and p.note == failure
    [c] = s.ask(1)  # the search goes on inside the refined space
    assert all(op in a for op, a in zip(to_ops(c.arch), p.allowed, strict=True))
    live_model.outcomes.append(
        f"lapt principles: {p.learner}, refined space {p.size()} of {SPACE.size}, "
        f"{_summary(rows)}, {secs:.0f} s wall; failures: {learner.failures[:1]}"
    )


def test_llmatic_mutation_by_the_real_model(live_model: LiveModel) -> None:
    rows: list[dict[str, Any]] = []
    # a duplicate child makes LLMatic ask again: the token budget bounds the calls (~3)
    client = live_model.client(rows, max_tokens=200, budget=LLMBudget(max_tokens=1200))
    s = LLMatic(operators=LLMOperators(LLMCompletion(client, "llmatic")),
                rng=np.random.default_rng(0), niches=10, init_size=1,
                mutation_prob=1.0)  # fmt: skip
    t0 = time.perf_counter()
    for _ in range(2):  # one random network, then one LLM mutation of it
        got = s.ask(1)
        if not got:
            break
        [c] = got
        s.tell([(c, TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": 0.5}))])
    secs = time.perf_counter() - t0
    _check_rows(rows, live_model, "llmatic")
    assert {r["prompt_id"] for r in rows} == {_ref("llmatic_mutate")}
    agents = [c.origin.agent for c, _ in s.history]
    if s.stopped:  # every answer repeated a known network until the budget ran out
        assert "LLM budget spent" in s.operator_failures[-1] and len(s.history) == 1
    else:
        assert len(s.history) == 2
        child = s.history[1][0]
        assert SPACE.validate(child.arch) == child.arch
        assert agents[1] in ("llm-operators:mutation", "rule-based-operators:mutation(fallback)")
        # an answer that did not parse is recorded, with the reason, and replaced by the rule
        fallbacks = sum(a.endswith("(fallback)") for a in agents)
        assert len(s.operator_failures) >= fallbacks
    live_model.outcomes.append(
        f"llmatic mutation: agents {agents[1:]}, stopped={s.stopped}, {_summary(rows)}, "
        f"{secs:.0f} s wall; failures: {s.operator_failures[:2]}"
    )
