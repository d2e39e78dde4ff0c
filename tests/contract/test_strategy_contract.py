"""One contract suite run against every registered strategy (pyribs/Optuna style).

A strategy joins the suite by adding a factory to ``FACTORIES`` (or by being registered
with a factory that needs only ``rng``/``seed``/``space``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from nas.records import Candidate, TrialRecord, TrialState
from nas.spaces import NASBenchMacroSpace, NB201Space
from nas.strategies import CallOrderError, Strategy, create
from nas.strategies.principles import SourceTask


def _fake_score(arch: str) -> float:
    """A deterministic stand-in metric in [0, 1] (no table needed)."""
    return (hash(arch) % 1000) / 1000.0


def _source() -> SourceTask:
    space = NB201Space()
    rng = np.random.default_rng(123)
    archs = tuple(space.sample(rng) for _ in range(200))
    return SourceTask("toy-source", archs, tuple(a.count("conv_3x3") / 6 for a in archs))


FACTORIES: dict[str, Callable[..., Strategy]] = {
    "random": lambda **kw: create("random", **kw),
    "rea": lambda **kw: create("rea", population_size=6, sample_size=3, **kw),
    "lapt": lambda **kw: create("lapt", source=_source(), top_k=20, adapt_every=4, **kw),
    "llmatic": lambda **kw: create("llmatic", niches=8, prompt_niches=4, init_size=4, **kw),
}


@pytest.fixture(params=sorted(FACTORIES))
def make(request: pytest.FixtureRequest) -> Callable[..., Strategy]:
    factory = FACTORIES[request.param]

    def build(seed: int = 0, **kw: Any) -> Strategy:
        return factory(rng=np.random.default_rng(seed), seed=seed, **kw)

    return build


def _record(c: Candidate, i: int) -> TrialRecord:
    if i % 7 == 3:  # failures are data, not exceptions
        return TrialRecord(c.id, TrialState.FAILED, error="boom: CUDA OOM")
    return TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": _fake_score(c.arch)})


def _drive(s: Strategy, steps: int, batch: int = 1) -> list[tuple[Candidate, TrialRecord]]:
    out: list[tuple[Candidate, TrialRecord]] = []
    i = 0
    while len(out) < steps:
        cands = s.ask(batch)
        assert cands, "space exhausted unexpectedly"
        results = []
        for c in cands:
            results.append((c, _record(c, i)))
            i += 1
        s.tell(results[::-1])  # any order; history is kept in tell order, like the store
        out.extend(results[::-1])
    return out


def test_ask_returns_valid_distinct_candidates(make: Callable[..., Strategy]) -> None:
    s = make()
    cands = s.ask(5)
    assert len(cands) == 5
    space = NB201Space()
    for c in cands:
        c.validate()
        assert c.arch_kind == "nb201" and space.validate(c.arch) == c.arch
        assert c.arch_hash == space.arch_hash(c.arch)
        assert c.origin.strategy == s.name
    assert len({c.arch_hash for c in cands}) == 5
    assert s.ask(0) == []


def test_tell_before_ask_raises(make: Callable[..., Strategy]) -> None:
    s = make()
    stranger = Candidate("nb201", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "h")
    rec = TrialRecord(stranger.id, TrialState.COMPLETE, metrics={"val_acc": 0.5})
    with pytest.raises(CallOrderError):
        s.tell([(stranger, rec)])
    with pytest.raises(CallOrderError):
        s.tell([rec])
    [c] = s.ask(1)
    ok = TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": 0.5})
    s.tell([ok])  # a bare record of a pending candidate is accepted
    with pytest.raises(CallOrderError):
        s.tell([(c, ok)])  # told twice


def test_never_proposes_a_seen_architecture_twice(make: Callable[..., Strategy]) -> None:
    s = make()
    hist = _drive(s, 60, batch=3)
    hashes = [c.arch_hash for c, _ in hist]
    assert len(set(hashes)) == len(hashes)


def test_deterministic_for_a_seed(make: Callable[..., Strategy]) -> None:
    a = [c.arch for c, _ in _drive(make(seed=7), 30)]
    b = [c.arch for c, _ in _drive(make(seed=7), 30)]
    c = [c.arch for c, _ in _drive(make(seed=8), 30)]
    assert a == b and a != c


def test_rebuild_from_history_reproduces_state(make: Callable[..., Strategy]) -> None:
    s = make()
    hist = _drive(s, 40, batch=2)
    rows = [(Candidate.from_row(c.to_row()), TrialRecord.from_row(r.to_row())) for c, r in hist]
    fresh = make(seed=99)  # the RNG does not matter for the learned state
    fresh.rebuild(rows)
    assert fresh.state_summary() == s.state_summary()
    # the rebuilt strategy keeps going without re-proposing anything
    more = fresh.ask(5)
    assert not {c.arch_hash for c in more} & {c.arch_hash for c, _ in hist}
    with pytest.raises(CallOrderError):
        fresh.rebuild(rows)  # only a fresh strategy can be rebuilt


def test_failures_are_learned_not_raised(make: Callable[..., Strategy]) -> None:
    s = make()
    for state in (TrialState.FAILED, TrialState.DIVERGED, TrialState.INVALID, TrialState.TIMEOUT):
        [c] = s.ask(1)
        s.tell([(c, TrialRecord(c.id, state, error=f"{state.value} on purpose"))])
    assert len(s.ask(2)) == 2


def test_small_space_is_exhausted_cleanly() -> None:
    """Random search over NAS-Bench-Macro stops at the number of distinct networks."""
    s = create("random", space=NASBenchMacroSpace(), rng=np.random.default_rng(0))
    seen = []
    while cands := s.ask(500):
        seen += cands
        if len(seen) > 7000:
            break
    assert len({c.arch for c in seen}) == len(seen) <= 6561
