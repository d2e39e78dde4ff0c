"""The fidelity section and the pure ASHA/Hyperband rung rule (nas/controller/fidelity.py)."""

from __future__ import annotations

import random

import pytest

from launcher.config.load import ConfigError, load_config
from launcher.config.validate import validate_config
from nas.config_checks import SettingError
from nas.controller.fidelity import Asha, FidelityConfig, RungDecision, geometric_rungs


def test_default_is_off_and_valid() -> None:
    cfg = FidelityConfig()
    cfg.validate()
    assert cfg.kind == "none" and not cfg.enabled


def test_geometric_rungs_end_at_full_fidelity() -> None:
    assert geometric_rungs(12, 200, 4) == (12, 48, 192, 200)
    assert geometric_rungs(1, 9, 3) == (1, 3, 9)
    assert FidelityConfig(kind="asha", min_epochs=12, max_epochs=200, eta=3).rungs() == (
        12, 36, 108, 200,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("cfg", "key", "fix"),
    [
        (FidelityConfig(kind="sha"), "fidelity.kind", "choose one of none, asha, hyperband"),
        (FidelityConfig(kind="asha", eta=1), "fidelity.eta", "fidelity.eta=2"),
        (FidelityConfig(kind="asha", min_epochs=0), "fidelity.min_epochs", "min_epochs=1"),
        (FidelityConfig(kind="asha", min_epochs=20, max_epochs=20), "fidelity.max_epochs",
         "fidelity.max_epochs=60"),
        (FidelityConfig(kind="asha", brackets=2), "fidelity.brackets", "kind=hyperband"),
        (FidelityConfig(kind="hyperband", min_epochs=1, max_epochs=9, brackets=3),
         "fidelity.brackets", "fidelity.brackets=2"),
    ],
)  # fmt: skip
def test_validation_names_key_and_fix(cfg: FidelityConfig, key: str, fix: str) -> None:
    with pytest.raises(SettingError) as e:
        cfg.validate()
    assert f"'{key}'" in str(e.value) and fix in str(e.value)


def test_run_config_composes_and_checks_the_section() -> None:
    cfg = load_config(overrides=["fidelity.kind=asha", "fidelity.eta=4"], check=False)
    assert cfg.fidelity == FidelityConfig(kind="asha", eta=4)
    bad = load_config(overrides=["fidelity.kind=asha", "fidelity.eta=1"], check=False)
    with pytest.raises(ConfigError, match=r"'fidelity\.eta' is 1"):
        validate_config(bad)
    with pytest.raises(ConfigError, match="fidelity"):
        load_config(overrides=["fidelity.etta=4"], check=False)


def test_asha_promotes_top_fraction_without_waiting() -> None:
    a = Asha.of(FidelityConfig(kind="asha", eta=3), ladder=(12, 200))
    values = [0.50, 0.40, 0.60, 0.30, 0.55, 0.70, 0.20]
    got = [a.decide(f"c{i}", 12, v) for i, v in enumerate(values)]
    # n=1: best of 1 -> promote; n=2: keep 1 (0.4 < 0.5); n=3: keep 1 (0.6 is best) ...
    assert [d.promote for d in got] == [True, False, True, False, False, True, False]
    assert [d.competitors for d in got] == list(range(1, 8))
    assert all(d.next_epochs == (200 if d.promote else 0) for d in got)
    assert got[4].rank == 2 and got[4].competitors == 5  # 5 // 3 = 1 kept: rank 2 stops


def test_ties_rank_the_earlier_result_first() -> None:
    a = Asha.of(FidelityConfig(kind="asha", eta=2), ladder=(1, 2))
    assert a.decide("x", 1, 0.5).promote
    d = a.decide("y", 1, 0.5)
    assert (d.rank, d.promote) == (2, False)


def test_repeated_result_returns_the_same_decision_and_records_nothing() -> None:
    a = Asha.of(FidelityConfig(kind="asha", eta=3), ladder=(12, 200))
    first = a.decide("c", 12, 0.4)
    again = a.decide("c", 12, 0.9)  # a restarted task reporting again
    assert again == first and a.tables[(0, 12)] == [0.4]


def test_full_fidelity_and_unknown_rungs_are_refused() -> None:
    a = Asha.of(FidelityConfig(kind="asha", eta=3), ladder=(12, 200))
    with pytest.raises(ValueError, match="full fidelity"):
        a.decide("c", 200, 0.5)
    with pytest.raises(ValueError, match="not a rung"):
        a.decide("d", 13, 0.5)
    with pytest.raises(ValueError, match="increasing"):
        Asha.of(FidelityConfig(kind="asha"), ladder=(200, 12))


def test_restore_from_decisions_continues_identically() -> None:
    cfg = FidelityConfig(kind="hyperband", min_epochs=1, max_epochs=27, eta=3, brackets=3)
    rnd = random.Random(7)
    events = [(f"c{i}", rnd.random()) for i in range(60)]
    whole = Asha.of(cfg)
    log: list[RungDecision] = []
    for cid, v in events:
        e = whole.assign(cid)
        while True:
            d = whole.decide(cid, e, v)
            log.append(d)
            if not d.promote or d.next_epochs == whole.full:
                break
            e, v = d.next_epochs, min(1.0, v + 0.01)
    # a restart after 25 decisions: replay them (as stored payloads), then go on
    cut = 25
    restored = Asha.of(cfg)
    restored.restore(RungDecision.from_payload(d.to_payload()) for d in log[:cut])
    rest = [restored.decide(d.candidate_id, d.epochs, d.value) for d in log[cut:]]
    assert rest == log[cut:]
    assert {b for b in whole.assigned.values()} == {0, 1, 2}
    assert whole.rungs(2) == (9, 27)


def test_hyperband_brackets_round_robin_from_their_own_first_rung() -> None:
    a = Asha.of(FidelityConfig(kind="hyperband", min_epochs=1, max_epochs=9, eta=3, brackets=2))
    assert [a.assign(f"c{i}") for i in range(4)] == [1, 3, 1, 3]
    assert a.decide("c1", 3, 0.2).next_epochs == 9


def test_max_epochs_must_be_the_training_recipes_length() -> None:
    cfg = load_config(overrides=["fidelity.kind=asha", "fidelity.min_epochs=1",
                                 "fidelity.max_epochs=9", "train.epochs=10"], check=False)  # fmt: skip
    with pytest.raises(ConfigError, match=r"'fidelity\.max_epochs' is 9: must equal train\.epochs"):
        validate_config(cfg)


def test_rungs_within_a_table() -> None:
    cfg = FidelityConfig(kind="asha", min_epochs=12, max_epochs=200)
    assert cfg.rungs_within((12, 200)) == (12, 200)
    with pytest.raises(SettingError, match=r"'fidelity\.min_epochs' is 10"):
        FidelityConfig(kind="asha", min_epochs=10, max_epochs=200).rungs_within((12, 200))
