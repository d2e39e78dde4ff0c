"""Constrained answers on the real local model (``llm.structured=auto``; docs/agents.md,
"Constrained answers"): the probe finds a llama.cpp server that takes and obeys GBNF and
JSON Schema, and each answer form the code sends (LLMatic/NB201 cell, LAPT candidates,
Proposer ranking, Reflector tips, Reader verdict) comes back obeying it and parses on the
first try. Bounded: small answer caps, one call per form (~3-5 minutes on one CPU thread).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from nas.agents.reflector import CATEGORIES
from nas.grammar import Constraint
from nas.llm import LLMClient
from nas.prompts import parse_ranking, parse_tips, parse_yes_no
from nas.prompts.parsers import ranking_constraint, tips_constraint, yes_no_constraint
from nas.prompts.strategy_parsers import (
    parse_network_answer,
    parse_principles_answer,
)
from nas.spaces import NB201Space
from nas.strategies.operators import LLMOperators
from nas.strategies.principles import LLMPrincipleLearner
from tests.live.conftest import LiveModel

pytestmark = [pytest.mark.llm_live, pytest.mark.timeout(1500)]

SPACE = NB201Space()


def _ask(client: LLMClient, messages: Any, c: Constraint, max_tokens: int) -> Any:
    reply = client.chat(list(messages), agent="live", prompt_id=c.name, constraint=c,
                        max_tokens=max_tokens)  # fmt: skip
    assert client.structured.kind == "llamacpp", client.structured.summary()
    assert client.structured.forms.get("grammar") == "ok", client.structured.summary()
    assert reply.constraint_mode == "gbnf", reply.constraint_mode
    assert reply.obeyed or reply.finish_reason == "length", (reply.text, reply.finish_reason)
    return reply


def test_the_probe_finds_a_llamacpp_server_that_obeys(live_model: LiveModel) -> None:
    rows: list[dict[str, Any]] = []
    before = len(live_model.probe_rows)
    arch = SPACE.sample(np.random.default_rng(0))
    prompt = LLMOperators(lambda p, t: "").mutate_prompt(SPACE, arch, 0)
    assert prompt.constraint is not None
    t0 = time.perf_counter()
    client = live_model.client(rows, temperature=0.7)
    reply = _ask(client, prompt.messages, prompt.constraint, 120)
    probes = live_model.probe_rows[before:]
    assert [r["constraint_mode"] for r in probes] == ["gbnf", "json_object"]
    assert probes[0]["status"] == "ok" and probes[0]["obeyed"] is True
    assert SPACE.validate(parse_network_answer(reply.text, SPACE))  # first try, no repair
    live_model.outcomes.append(
        f"structured: {client.structured.summary()}; NB201 cell {reply.text!r} in "
        f"{time.perf_counter() - t0:.0f} s"
    )


def test_each_answer_form_is_obeyed_and_parses_first_time(live_model: LiveModel) -> None:
    rows: list[dict[str, Any]] = []
    client = live_model.client(rows, temperature=0.7)
    t0 = time.perf_counter()
    ask = "Rank these ideas for a CNN block:\n1. SE gate\n2. wider conv\n3. dropout"
    r = _ask(client, [{"role": "user", "content": ask}], ranking_constraint(3, 2), 80)
    assert all(0 <= i < 3 for i in parse_ranking(r.text, 3))
    q = "Is a paper on depthwise convolutions relevant to CNN block design? Answer, then why."
    r = _ask(client, [{"role": "user", "content": q}], yes_no_constraint(), 60)
    assert isinstance(parse_yes_no(r.text), bool)
    tip = "A block with an Add of 64 and 128 channels failed. Write tips to avoid this."
    r = _ask(client, [{"role": "user", "content": tip}], tips_constraint(CATEGORIES), 120)
    assert parse_tips(r.text)
    rng = np.random.default_rng(1)
    top = [(SPACE.sample(rng), 0.9 - i / 100) for i in range(5)]
    prompt = LLMPrincipleLearner(lambda p, t: "").learn_prompt(SPACE, top)
    assert prompt.constraint is not None
    r = _ask(client, prompt.messages, prompt.constraint, 500)
    if r.finish_reason != "length":
        assert all(0 < len(a) <= 2 for a in parse_principles_answer(r.text, SPACE).candidates)
    live_model.outcomes.append(
        f"structured: ranking/verdict/tips/candidates obeyed "
        f"{sum(bool(row['obeyed']) for row in rows)}/{len(rows)} in "
        f"{time.perf_counter() - t0:.0f} s"
    )
