"""LAPT's LLM learner keeps what the source evidence supports (issue 24, BENCHMARKS.md "Real
local model: LAPT and LLMatic"): the real 1.5B model's refined space excluded both targets'
best-validation cells; with the evidence floor the same recorded answer gives a refined
space that holds them, and the widening is recorded on the principles."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from nas.bench.nb201 import source_task
from nas.evaluators.table import load_table
from nas.spaces import NB201Space
from nas.strategies.principles import (
    LLMPrincipleLearner,
    Principles,
    SourceTask,
    StatisticalPrincipleLearner,
)
from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[2]
SPACE = NB201Space()


def _recorded_learn_answer() -> tuple[str, int]:
    """The real model's lapt_principles answer and the top-k its prompt showed."""
    data = json.loads((ROOT / "bench/results/real_llm_cassette.json").read_text())
    for exchanges in data["entries"].values():
        for ex in exchanges:
            user = ex["request"]["messages"][-1]["content"]
            if "Task: lapt_principles" in user:
                k = int(re.search(r"The layer_list of the (\d+) best", user)[1])  # type: ignore[index]
                return ex["response"]["choices"][0]["message"]["content"], k
    raise AssertionError("no lapt_principles exchange in the cassette")


def _contains(p: Principles, arch: str) -> bool:
    return all(v in a for v, a in zip(SPACE.decode(arch), p.allowed, strict=True))


def test_the_recorded_answer_with_the_floor_holds_both_targets_best_cells() -> None:
    table = load_table(shared_path("data", "nb201.parquet"))
    answer, k = _recorded_learn_answer()
    top = source_task(table, "imagenet16", 200).top(k)
    best = {t: table.argmax(t, 200, "val") for t in ("cifar10", "cifar100")}
    raw = LLMPrincipleLearner(lambda p, t: answer, evidence_floor=False).learn(SPACE, top)
    assert not any(_contains(raw, a) for a in best.values())  # the measured failure
    floored = LLMPrincipleLearner(lambda p, t: answer).learn(SPACE, top)
    assert all(_contains(floored, a) for a in best.values())
    assert floored.note.startswith("widened the LLM's answer with the evidence: ")
    stats = StatisticalPrincipleLearner().learn(SPACE, top)
    assert all(s <= f for s, f in zip(stats.allowed, floored.allowed, strict=True))
    assert all(r <= f for r, f in zip(raw.allowed, floored.allowed, strict=True))


def test_floor_adds_only_what_is_missing_and_says_so() -> None:
    rng = np.random.default_rng(0)
    archs = tuple(SPACE.sample(rng) for _ in range(60))
    src = SourceTask("s", archs, tuple(SPACE.decode(a).count("nor_conv_3x3") for a in archs))
    top = src.top(10)
    stats = StatisticalPrincipleLearner().learn(SPACE, top)
    everything = json.dumps({f"layer{k}": list(range(5)) for k in range(6)})
    full = LLMPrincipleLearner(lambda p, t: everything).learn(SPACE, top)
    assert full.note == "" and full.size() == 5**6  # nothing to add: nothing recorded
    one = json.dumps({f"layer{k}": [0] for k in range(6)})  # "none" on every edge
    got = LLMPrincipleLearner(lambda p, t: one).learn(SPACE, top)
    for pos, s, g in zip(SPACE.positions, stats.allowed, got.allowed, strict=True):
        assert g == s | {"none"}
        if s - {"none"}:
            assert f"{pos.name} +" in got.note
    # update: the target top-r's ops and the best source op stay in the space
    target = [(a, 1.0) for a in archs[:3]]
    upd = LLMPrincipleLearner(lambda p, t: one).update(SPACE, got, target)
    for i in range(6):
        assert {SPACE.decode(a)[i] for a, _ in target} <= upd.allowed[i]
