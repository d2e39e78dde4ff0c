from __future__ import annotations

import numpy as np
import pytest

from nas.records import TrialRecord, TrialState
from nas.spaces import NASBenchMacroSpace, NB201Space
from nas.spaces.nb201 import from_ops
from nas.strategies.llmatic import CVTArchive, Elite, LLMatic, cvt_centroids
from nas.strategies.operators import LLMOperators, OperatorError, RuleBasedOperators


def _ok(c, v: float) -> TrialRecord:  # type: ignore[no-untyped-def]
    return TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": v})


def test_descriptors_are_normalized_from_declared_bounds() -> None:
    s = LLMatic(rng=np.random.default_rng(0))
    lo = s.descriptor(from_ops(["none"] * 6))
    hi = s.descriptor(from_ops(["nor_conv_3x3"] * 6))
    assert lo == (0.0, 0.0) and hi[1] == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    for _ in range(200):
        d = s.descriptor(NB201Space().sample(rng))
        assert all(0.0 <= x <= 1.0 for x in d)
    assert s.prompt_descriptor(0, 0.0) == (0.0, 0.0)
    assert s.prompt_descriptor(len(s.operators.prompts) - 1, 1.0) == (1.0, 1.0)


def test_cvt_archive_keeps_the_best_per_niche_and_rejects_raw_values() -> None:
    c = cvt_centroids(10, seed=0)
    assert c.shape == (10, 2) and np.all((c >= 0) & (c <= 1))
    assert np.array_equal(c, cvt_centroids(10, seed=0))
    a = CVTArchive(c)
    assert a.add(Elite("x", "x", 0.5, (0.1, 0.1)))
    assert not a.add(Elite("y", "y", 0.4, (0.1, 0.1)))
    assert a.add(Elite("z", "z", 0.6, (0.1, 0.1))) and len(a) == 1
    with pytest.raises(ValueError, match="not normalized"):
        a.niche((0.5, 153_000_000.0))  # raw FLOPs: the released code's flaw


def test_curiosity_belongs_to_prompt_individuals() -> None:
    s = LLMatic(rng=np.random.default_rng(0), init_size=2, niches=4)
    a, b = s.ask(2)
    s.tell([(a, _ok(a, 0.5)), (b, _ok(b, 0.6))])
    assert s.curiosity == {}  # random-init networks carry no prompt
    [child] = s.ask(1)
    key = child.origin.prompt
    assert child.parents and key.startswith("p")
    s.tell([(child, TrialRecord(child.id, TrialState.FAILED, error="untrainable"))])
    assert s.curiosity[key] == -1.0 and child.parents[0] not in s.curiosity
    [child2] = s.ask(1)
    key2 = child2.origin.prompt
    before = s.curiosity.get(key2, 0.0)
    s.tell([(child2, _ok(child2, 0.0))])  # worst possible: not added unless its niche is empty
    added = s.networks.elites.get(s.networks.niche(s.descriptor(child2.arch)))
    delta = 1.0 if added is not None and added.key == child2.id else -0.5
    assert s.curiosity[key2] == before + delta


def test_temperature_moves_by_the_fitness_driven_step() -> None:
    s = LLMatic(rng=np.random.default_rng(0), init_size=2, niches=4, random_prompt_prob=1.0)
    a, b = s.ask(2)
    s.tell([(a, _ok(a, 0.5)), (b, _ok(b, 0.6))])
    [c] = s.ask(1)
    pid, t = int(c.origin.prompt[1:].split("@T")[0]), float(c.origin.prompt.split("@T")[1])
    s.tell([(c, _ok(c, 0.9))])  # a new best: +0.05
    assert s.temperature[pid] == pytest.approx(t + 0.05)
    assert any(e.key == f"p{pid}@T{t + 0.05:.4f}" for e in s.prompt_archive.members())
    [d] = s.ask(1)
    pd, td = int(d.origin.prompt[1:].split("@T")[0]), float(d.origin.prompt.split("@T")[1])
    s.tell([(d, _ok(d, 0.1))])  # not a new best: -0.05
    assert s.temperature[pd] == pytest.approx(td - 0.05)


def test_every_network_niche_is_reachable_and_bounds_come_from_the_space() -> None:
    s = LLMatic(rng=np.random.default_rng(0))
    assert s.bounds[0] == (0.0, 1.5) and s.bounds[1][0] == pytest.approx(7.78305)
    niches = {
        s.networks.niche(s.descriptor(from_ops(ops)))
        for ops in __import__("itertools").product(
            ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"), repeat=6
        )
    }
    assert niches == set(range(20))


def test_temperature_mutation_stays_in_bounds_and_prompt_archive_fills() -> None:
    s = LLMatic(rng=np.random.default_rng(3), init_size=3, temperature_sigma=0.5, niches=6)
    for i in range(40):
        [c] = s.ask(1)
        s.tell([(c, _ok(c, (i % 10) / 10))])
    temps = [float(c.origin.prompt.split("@T")[1]) for c, _ in s.history if c.origin.prompt]
    assert temps and all(0.1 <= t <= 1.0 for t in temps) and len(set(temps)) > 5
    assert len(s.prompt_archive) >= 2
    kinds = {c.origin.agent for c, _ in s.history}
    assert "rule-based-operators:mutation" in kinds and "rule-based-operators:crossover" in kinds


def test_crossover_partner_is_the_nearest_neighbour() -> None:
    e = Elite("a", "a", 0.1, (0.0, 0.0))
    others = [Elite("b", "b", 0.9, (0.9, 0.9)), Elite("c", "c", 0.2, (0.1, 0.0))]
    assert LLMatic._nearest(e, others).key == "c"


def test_rule_based_operators_respect_the_space() -> None:
    space = NASBenchMacroSpace()
    ops = RuleBasedOperators()
    rng = np.random.default_rng(0)
    grown = ops.mutate(space, "00000000", 8, 0.0, rng)  # "increasing the size": steps up
    assert grown.count("1") >= 1 and set(grown) <= {"0", "1"}
    shrunk = ops.mutate(space, "22222222", 7, 0.0, rng)  # "reducing the size": steps down
    assert shrunk.count("1") >= 1 and set(shrunk) <= {"1", "2"}
    nb = NB201Space()
    cell = from_ops(["nor_conv_3x3"] * 6)
    assert "none" in ops.mutate(nb, cell, 5, 0.5, rng)  # "Delete a layer"
    assert "skip_connect" in ops.mutate(nb, cell, 3, 0.5, rng)  # "Add a residual connection"
    assert "avg_pool_3x3" in ops.mutate(nb, cell, 2, 0.5, rng)  # "Add a pooling layer"
    assert "nor_conv_1x1" in ops.mutate(nb, cell, 6, 0.5, rng)  # "Change the kernel size"
    assert len(ops.prompts) == 9
    child = ops.crossover(space, "00000000", "22222222", 1, 0.5, rng)
    assert child.startswith("0") and child.endswith("2")


def test_llm_operators_parse_the_block_text_and_fail_precisely() -> None:
    space = NB201Space()
    best = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    prompts: list[str] = []

    def complete(prompt: str, t: float) -> str:
        prompts.append(prompt)
        return "Here is the improved cell:\n" + space.describe(best)

    ops = LLMOperators(complete)
    src = from_ops(["none"] * 6)
    assert ops.mutate(space, src, 0, 0.7, np.random.default_rng(0)) == best
    assert "edge 1<-0: none" in prompts[0] and "Instruction:" in prompts[0]
    with pytest.raises(OperatorError, match="'edge 1<-0': 'conv_7x7' is not a choice"):
        LLMOperators(lambda p, t: "edge 1<-0: conv_7x7").mutate(
            space, src, 0, 0.7, np.random.default_rng(0)
        )
    bad = LLMOperators(lambda p, t: "edge 1<-0: none")
    with pytest.raises(OperatorError, match="lacks lines for edge 2<-0"):
        bad.mutate(space, src, 0, 0.7, np.random.default_rng(0))
    s = LLMatic(operators=bad, rng=np.random.default_rng(0), init_size=1)
    [a] = s.ask(1)
    s.tell([(a, _ok(a, 0.5))])
    [c] = s.ask(1)
    assert c.origin.agent.endswith("(fallback)") and s.operator_failures
