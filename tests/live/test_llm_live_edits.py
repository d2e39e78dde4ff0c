"""The Modifier's edit form against the real local model (``scripts/llm-up.sh``): one
design in ``answer=edits`` mode through the run's own wiring. What a real model answers is
not scripted, so the test asserts what must hold for any answer: one ``llm_calls`` row per
call, the edit prompts (never a derive call when the parent's stem/downsample fit), the
design's call cap kept, and either a valid block file or the reasons. Bounded (a small
answer cap, at most 3 calls)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from nas.agents.nader_strategy import NaderStrategy, validate_file
from nas.prompts.templates import load_prompt
from tests.live.conftest import LiveModel

pytestmark = [pytest.mark.llm_live, pytest.mark.timeout(900)]


def test_nader_modifier_answers_with_edits(live_model: LiveModel) -> None:
    rows: list[dict[str, Any]] = []
    client = live_model.client(rows, temperature=0.7, max_tokens=200)
    nader = NaderStrategy("resnet_basic", llm=client, retries=2, answer="edits",
                          max_calls_per_design=3, repair_temperature=1.0)  # fmt: skip
    t0 = time.perf_counter()
    res = nader.modifier.modify(
        nader.base_blocks,
        "Add a parallel 1x1 convolution branch from the block input, merged by addition "
        "before the last activation.",
        candidate_id="live-edits-1",
    )
    secs = time.perf_counter() - t0
    assert len(rows) == res.turns <= 3
    # the first prompt is the version the answer version uses (the newest file may be newer)
    first = load_prompt("modifier_edits", nader.modifier.prompt_version).ref
    refs = {first} | {load_prompt(p).ref for p in ("modifier_edits_repair", "modifier_reask",
                                                    "modifier_derive")}  # fmt: skip
    prompts = [r["prompt_id"] for r in rows]
    assert prompts[0] == first and set(prompts) <= refs
    if res.status == "ok":
        assert res.blocks is not None and validate_file(res.blocks, nader.macro) == []
    else:
        assert res.errors or res.call_errors
    live_model.outcomes.append(
        f"nader modifier (edits): {res.status}, turns={res.turns}, fixes={res.fixes}, "
        f"notes={res.notes}, {res.tokens_in}+{res.tokens_out} tokens, {secs:.0f} s; "
        f"errors: {(res.errors + res.call_errors)[:2]}; first invalid: {res.first_invalid[:200]!r}"
    )
