import pyarrow as pa
import pytest

from nas.records import (
    Candidate,
    EpochMetrics,
    Origin,
    RecordError,
    TrialCost,
    TrialRecord,
    TrialState,
)
from store.schemas import SCHEMA_VERSION, to_table

ARCH = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|none~2|"


def make_candidate(**kw):
    base = dict(
        arch_kind="nb201",
        arch=ARCH,
        arch_hash="h1",
        recipe={"epochs": 3, "lr": 0.1},
        seed=7,
        parents=("p1",),
        origin=Origin("rea", "mutation", "swap op", "v1"),
    )
    base.update(kw)
    return Candidate(**base)


def test_candidate_id_is_a_content_hash():
    a, b = make_candidate(), make_candidate(created_at=1.0)
    assert a.id == b.id and len(a.id) == 16
    assert make_candidate(seed=8).id != a.id
    assert make_candidate(recipe={"epochs": 4, "lr": 0.1}).id != a.id
    assert make_candidate(recipe={"lr": 0.1, "epochs": 3}).id == a.id  # key order is irrelevant
    assert make_candidate(arch_hash="h2").id != a.id


def test_candidate_row_round_trip_through_parquet():
    c = make_candidate()
    table = to_table("candidates", [c.to_row()])
    row = table.to_pylist()[0]
    assert row["schema_version"] == SCHEMA_VERSION
    row.pop("schema_version")
    back = Candidate.from_row(row)
    assert back == c and back.parents == ("p1",) and back.origin.agent == "mutation"


def test_candidate_from_row_rejects_a_tampered_id():
    row = make_candidate().to_row()
    row["candidate_id"] = "0" * 16
    with pytest.raises(RecordError, match="does not match"):
        Candidate.from_row(row)


@pytest.mark.parametrize(
    "kw,msg",
    [
        ({"arch": " "}, "arch is empty"),
        ({"arch_hash": ""}, "arch_hash"),
        ({"seed": -1}, "negative"),
        ({"arch_kind": ""}, "arch_kind"),
    ],
)
def test_candidate_validate_names_the_field(kw, msg):
    with pytest.raises(RecordError, match=msg):
        make_candidate(**kw).validate()


def make_trial(**kw):
    base = dict(
        candidate_id="abc",
        state=TrialState.COMPLETE,
        metrics={"val_acc": 0.5, "test_acc": 0.4, "train_loss": 1.2, "extra": 3.0},
        cost=TrialCost(params=10, flops=20, macs=10, wall_seconds=1.5, llm_tokens_in=5),
        curve=(
            EpochMetrics(1, 2.0, 0.3, 2.1, 0.35, 0.1, 1.0),
            EpochMetrics(2, 1.2, 0.5, 1.3, 0.5, 0.05, 1.0),
        ),
        attempt=2,
        job_id="12_3",
        evaluator="train",
        started_at=10.0,
        finished_at=12.0,
    )
    base.update(kw)
    return TrialRecord(**base)


def test_trial_row_round_trip_with_curve():
    t = make_trial().validate()
    rows = to_table("trials", [t.to_row()]).to_pylist()
    epochs = to_table("epochs", t.epoch_rows()).to_pylist()
    assert rows[0]["epochs_run"] == 2 and len(epochs) == 2
    curve = tuple(EpochMetrics.from_row(e) for e in epochs)
    back = TrialRecord.from_row(rows[0], curve=curve)
    assert back == t


@pytest.mark.parametrize(
    "kw,msg",
    [
        ({"metrics": {"val_acc": 93.1}}, "outside"),
        ({"metrics": {}}, "needs metrics"),
        ({"state": TrialState.FAILED, "error": ""}, "error text"),
        ({"attempt": 0}, "attempt"),
        ({"metrics": {"val_acc": float("nan")}}, "not a number"),
        ({"started_at": 5.0, "finished_at": 4.0}, "before"),
    ],
)
def test_trial_validate_rejects(kw, msg):
    with pytest.raises(RecordError, match=msg):
        make_trial(**kw).validate()


def test_failure_states_are_data():
    t = make_trial(state=TrialState.DIVERGED, metrics={}, error="loss NaN in epoch 1").validate()
    assert t.state.is_failure and t.val_acc is None
    assert (
        TrialRecord.from_row(to_table("trials", [t.to_row()]).to_pylist()[0]).state
        is TrialState.DIVERGED
    )


def test_unknown_column_is_rejected():
    row = make_trial().to_row()
    row["val_accuracy"] = 1.0
    with pytest.raises(ValueError, match="unknown columns"):
        to_table("trials", [row])
    assert isinstance(to_table("trials", []), pa.Table)


def test_fidelity_fields_round_trip_and_pruned_is_not_final() -> None:
    from nas.records import TrialRecord, TrialState

    rec = TrialRecord("c", TrialState.PRUNED, metrics={"val_acc": 0.7}, error="rung 12: rank 4 of 5",
                      fidelity_epochs=12, fidelity_max=200).validate()  # fmt: skip
    row = rec.to_row()
    assert (row["fidelity_epochs"], row["fidelity_max"], row["state"]) == (12, 200, "PRUNED")
    assert TrialRecord.from_row(row) == rec
    assert not rec.is_final and rec.for_strategy().metrics == {}
    partial = TrialRecord("c", TrialState.COMPLETE, metrics={"val_acc": 0.7},
                          fidelity_epochs=12, fidelity_max=200)  # fmt: skip
    view = partial.for_strategy()
    assert (view.state, view.metrics) == (TrialState.PRUNED, {}) and "12 of 200" in view.error
    plain = TrialRecord("c", TrialState.COMPLETE, metrics={"val_acc": 0.7})
    assert plain.is_final and plain.to_row()["fidelity_epochs"] is None
    with pytest.raises(RecordError, match="fidelity_epochs=300"):
        TrialRecord("c", TrialState.COMPLETE, metrics={"val_acc": 0.7},
                    fidelity_epochs=300, fidelity_max=200).validate()  # fmt: skip
