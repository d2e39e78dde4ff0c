"""One contract suite run against every registered strategy (pyribs/Optuna style).

The strategies are the registry's names (``nas.strategies.names()``, NADER included): a
strategy joins the suite by registering. ``REQUIRED`` holds the constructor arguments a
registered strategy cannot do without (LAPT's source task); everything else is built with
``rng``/``seed`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import nas.agents.register  # noqa: F401  (registers nader)
from nas.records import Candidate, TrialRecord, TrialState, content_hash
from nas.spaces import NASBenchMacroSpace, NB201Space
from nas.strategies import CallOrderError, Strategy, create, names
from nas.strategies.base import Event
from nas.strategies.principles import SourceTask


def _fake_score(arch: str) -> float:
    """A deterministic stand-in metric in [0, 1] (no table needed; never ``hash()``)."""
    return int(content_hash(arch)[:6], 16) % 1000 / 1000.0


def _source() -> SourceTask:
    space = NB201Space()
    rng = np.random.default_rng(123)
    archs = tuple(space.sample(rng) for _ in range(200))
    return SourceTask("toy-source", archs, tuple(a.count("conv_3x3") / 6 for a in archs))


REQUIRED: dict[str, Callable[[], dict[str, Any]]] = {
    "rea": lambda: {"population_size": 6, "sample_size": 3},
    "lapt": lambda: {"source": _source(), "top_k": 20, "adapt_every": 4},
    "llmatic": lambda: {"niches": 8, "prompt_niches": 4, "init_size": 4},
}


@pytest.fixture(params=names())
def make(request: pytest.FixtureRequest) -> Callable[..., Strategy]:
    name = request.param

    def build(seed: int = 0, rng: np.random.Generator | None = None, **kw: Any) -> Strategy:
        extra = REQUIRED.get(name, dict)()
        gen = np.random.default_rng(seed) if rng is None else rng
        return create(name, rng=gen, seed=seed, **extra, **kw)

    return build


def test_the_suite_covers_every_registered_strategy() -> None:
    assert {"random", "rea", "lapt", "llmatic", "nader"} <= set(names())


def _record(c: Candidate, i: int) -> TrialRecord:
    if i % 7 == 3:  # failures are data, not exceptions
        return TrialRecord(c.id, TrialState.FAILED, error="boom: CUDA OOM")
    return TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": _fake_score(c.arch)})


def _drive(
    s: Strategy, steps: int, batch: int = 1, events: list[Event] | None = None
) -> list[tuple[Candidate, TrialRecord]]:
    """ask/tell as the controller does (decided candidates told back at once); the learned
    history (decided and evaluated pairs, in tell order) of ``steps`` evaluations."""
    out: list[tuple[Candidate, TrialRecord]] = []
    i = 0
    evaluated = 0
    while evaluated < steps:
        cands = s.ask(batch)
        decided = s.pop_decided()
        s.tell(decided)
        out.extend(decided)
        assert cands or decided, "space exhausted unexpectedly"
        results = []
        for c in cands:
            results.append((c, _record(c, i)))
            i += 1
        s.tell(results[::-1])  # any order; history is kept in tell order, like the store
        out.extend(results[::-1])
        evaluated += len(results)
        if events is not None:
            events.extend(s.pop_events())
    return out


def test_ask_returns_valid_distinct_candidates(make: Callable[..., Strategy]) -> None:
    s = make()
    cands = s.ask(5)
    assert len(cands) == 5
    for c in cands:
        c.validate()
        assert c.origin.strategy == s.name
    if cands[0].arch_kind == "nb201":
        space = NB201Space()
        for c in cands:
            assert space.validate(c.arch) == c.arch and c.arch_hash == space.arch_hash(c.arch)
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
    hist = _drive(s, 30, batch=3)
    hashes = [c.arch_hash for c, r in hist if r.state is not TrialState.DUPLICATE]
    assert len(set(hashes)) == len(hashes)


def test_deterministic_for_a_seed(make: Callable[..., Strategy]) -> None:
    a = [c.id for c, _ in _drive(make(seed=7), 15)]
    b = [c.id for c, _ in _drive(make(seed=7), 15)]
    c = [c.id for c, _ in _drive(make(seed=8), 15)]
    assert a == b and a != c


def test_rebuild_from_history_reproduces_state(make: Callable[..., Strategy]) -> None:
    s = make()
    events: list[Event] = []
    hist = _drive(s, 20, batch=2, events=events)
    pending = s.ask(2)
    events += s.pop_events()
    rows = [(Candidate.from_row(c.to_row()), TrialRecord.from_row(r.to_row())) for c, r in hist]
    fresh = make(seed=0, rng=np.random.default_rng(99))  # its RNG: no effect on the state
    fresh.pop_events()
    fresh.rebuild(rows, [Candidate.from_row(c.to_row()) for c in pending], events)
    assert fresh.state_summary() == s.state_summary()
    assert fresh.pop_decided() == []
    # the same generator state -> the same next proposals; nothing seen is re-proposed
    fresh.set_random_state(s.random_state())
    more, again = fresh.ask(3), s.ask(3)
    assert [c.id for c in more] == [c.id for c in again]
    assert not {c.arch_hash for c in more} & {c.arch_hash for c, _ in hist}
    # the rebuilt strategy takes the results of the pending candidates
    fresh.tell([(c, _record(c, 0)) for c in pending])
    with pytest.raises(CallOrderError):
        fresh.rebuild(rows)  # only a fresh strategy can be rebuilt


def test_random_state_is_plain_data(make: Callable[..., Strategy]) -> None:
    import json

    s = make()
    s.ask(2)
    state = s.random_state()
    assert json.loads(json.dumps(state)) == state


def test_failures_are_learned_not_raised(make: Callable[..., Strategy]) -> None:
    s = make()
    s.ask(1)  # NADER's first proposal is its base design
    for state in (TrialState.FAILED, TrialState.DIVERGED, TrialState.INVALID, TrialState.TIMEOUT):
        cands = s.ask(1)
        s.tell(s.pop_decided())
        for c in cands:
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


def _low_fidelity(c: Candidate, value: float, pruned: bool) -> TrialRecord:
    """A result of 12 of 200 epochs: stopped at its rung (PRUNED) or a partial COMPLETE."""
    if pruned:
        return TrialRecord(c.id, TrialState.PRUNED, metrics={"val_acc": value},
                           error="rung 12: rank 3 of 3", fidelity_epochs=12, fidelity_max=200)  # fmt: skip
    return TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": value},
                       fidelity_epochs=12, fidelity_max=200)  # fmt: skip


def test_pruned_or_partial_result_never_enters_as_final(make: Callable[..., Strategy]) -> None:
    """Issue 25: by default a strategy learns full-fidelity results only. Two strategies
    told the same pruned/partial results with opposite values (0.999 vs 0.001) stay
    identical: the low-fidelity value never reaches what they learn or propose next."""
    runs = []
    for value in (0.999, 0.001):
        s = make(seed=3)
        _drive(s, 8)
        a, b = s.ask(2)
        s.tell([(a, _low_fidelity(a, value, pruned=True)),
                (b, _low_fidelity(b, value, pruned=False))])  # fmt: skip
        full = s.ask(1)
        s.tell([(c, _record(c, 0)) for c in full])
        runs.append((s.state_summary(), [c.id for c in s.ask(4)]))
    assert runs[0] == runs[1]
    told = runs[0][0].get("told")
    if isinstance(told, list):  # BaseStrategy's summary: (id, state, val_acc) per told result
        states = {t[0]: (t[1], t[2]) for t in told}
        assert states[a.id] == ("PRUNED", None) and states[b.id] == ("PRUNED", None)


def test_full_fidelity_result_is_learned(make: Callable[..., Strategy]) -> None:
    """The counterpart: a result at the schedule's full length is final and is learned."""
    c = TrialRecord("x", TrialState.COMPLETE, metrics={"val_acc": 0.5},
                    fidelity_epochs=200, fidelity_max=200)  # fmt: skip
    assert c.is_final and c.for_strategy() is c
    s = make(seed=3)
    [cand] = s.ask(1)
    rec = TrialRecord(cand.id, TrialState.COMPLETE, metrics={"val_acc": 0.5},
                      fidelity_epochs=200, fidelity_max=200)  # fmt: skip
    s.tell([(cand, rec)])
    told = s.state_summary().get("told")
    if isinstance(told, list):
        assert (cand.id, "COMPLETE", 0.5) in [tuple(t) for t in told]
