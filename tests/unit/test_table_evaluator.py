from __future__ import annotations

import numpy as np
import pytest

from nas.evaluators import (
    BenchmarkTable,
    FlopsCostModel,
    TableError,
    TableEvaluator,
    load_table,
)
from nas.records import Candidate, TrialState
from nas.spaces import NB201Space, make_space
from tests.conftest import shared_path

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.fixture(scope="module")
def table():  # type: ignore[no-untyped-def]
    return load_table(shared_path("data", "nb201.parquet"))


def _cand(arch: str, kind: str = "nb201") -> Candidate:
    return Candidate(kind, arch, "h")


def test_lookup_returns_validation_only_then_test_is_attached(table) -> None:  # type: ignore[no-untyped-def]
    ev = TableEvaluator(table, "cifar10", 200)
    c = _cand(BEST_C10)
    rec = ev(c).validate()
    assert rec.state is TrialState.COMPLETE and set(rec.metrics) == {"val_acc"}
    assert rec.metrics["val_acc"] == pytest.approx(0.9160666, abs=1e-6)
    assert rec.evaluator == "table:nb201:cifar10@200"
    assert rec.cost.params == 1073466 and rec.cost.flops == 153272970
    full = ev.attach_test(c, rec).validate()
    assert full.metrics["test_acc"] == pytest.approx(0.9437333, abs=1e-6)
    assert ev.test_acc(BEST_C10) == full.metrics["test_acc"]


def test_fidelities_and_datasets(table) -> None:  # type: ignore[no-untyped-def]
    assert table.datasets == ("cifar10", "cifar100", "imagenet16") and table.fidelities == (12, 200)
    v12 = TableEvaluator(table, "cifar100", 12)(_cand(BEST_C10)).metrics["val_acc"]
    v200 = TableEvaluator(table, "cifar100", 200)(_cand(BEST_C10)).metrics["val_acc"]
    assert 0 < v12 < v200 < 1
    with pytest.raises(TableError, match="fidelities: 12, 200"):
        TableEvaluator(table, "cifar10", 50)
    with pytest.raises(TableError, match="datasets: cifar10, cifar100, imagenet16"):
        TableEvaluator(table, "svhn", 200)


def test_unknown_or_foreign_architectures_are_invalid_records(table) -> None:  # type: ignore[no-untyped-def]
    ev = TableEvaluator(table, "cifar10")
    r = ev(_cand("|bogus~0|", "nb201"))
    assert r.state is TrialState.INVALID and "not in table" in r.error
    r = ev(_cand("02012100", "nb-macro"))
    assert r.state is TrialState.INVALID and "arch_kind 'nb201'" in r.error


def test_cost_model_estimates_gpu_hours(table) -> None:  # type: ignore[no-untyped-def]
    ev = TableEvaluator(table, "cifar10", 200, cost_model=FlopsCostModel())
    small = ev(_cand("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")).cost.gpu_seconds
    big = ev(_cand(BEST_C10)).cost.gpu_seconds
    assert 0 < small < big < 3600 * 2
    cheap = TableEvaluator(table, "cifar10", 12)(_cand(BEST_C10)).cost.gpu_seconds
    assert cheap == pytest.approx(big * 12 / 200)


def test_every_cell_is_in_the_table(table) -> None:  # type: ignore[no-untyped-def]
    space = NB201Space()
    rng = np.random.default_rng(0)
    for _ in range(100):
        assert space.sample(rng) in table.index
    assert len(table) == 15625


@pytest.mark.parametrize(
    "fname,kind",
    [
        ("nas-bench-macro_cifar10.json", "nb-macro"),
        ("Results_ResNet.json", "channel-resnet"),
        ("Results_MobileNet.json", "channel-mobilenet"),
    ],
)
def test_macro_tables(fname: str, kind: str) -> None:
    t = load_table(shared_path("fixtures", "benchmarks", fname))
    assert t.arch_kind == kind and t.default_fidelity == 0
    ev = TableEvaluator(t, "cifar10")
    space = make_space(kind)
    arch = space.sample(np.random.default_rng(0))
    rec = ev(Candidate(kind, arch, space.arch_hash(arch))).validate()
    assert rec.state is TrialState.COMPLETE and 0 < rec.metrics["val_acc"] < 1
    assert 0 < ev.test_acc(arch) < 1 and rec.cost.flops > 0


def test_missing_table_names_the_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TableError, match="does not exist"):
        load_table(tmp_path / "nope.parquet")


_WORKER = """
import pickle, sys
from nas.evaluators import table as T
from nas.records import Candidate
ev, arch = pickle.loads(sys.stdin.buffer.read())
assert ev._table is None and not T._CACHE  # nothing loaded before the first lookup
recs = [ev(Candidate("nb201", arch, "h")) for _ in range(3)]
assert len(T._CACHE) == 1  # loaded once for the process
sys.stdout.buffer.write(pickle.dumps((recs[0], ev.test_acc(arch))))
"""


def test_pickle_carries_the_path_not_the_table(table) -> None:  # type: ignore[no-untyped-def]
    import pickle
    import subprocess
    import sys

    from tests.conftest import REPO

    ev = TableEvaluator(table, "cifar100", 12)
    blob = pickle.dumps(ev)
    assert len(blob) < 64 * 1024  # the table itself is ~3.8 MB
    rec = ev(_cand(BEST_C10))
    out = subprocess.run(
        [sys.executable, "-c", _WORKER], input=pickle.dumps((ev, BEST_C10)),
        capture_output=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr.decode()
    got, test_acc = pickle.loads(out.stdout)
    same = ("state", "metrics", "cost", "evaluator", "error")
    assert {k: getattr(got, k) for k in same} == {k: getattr(rec, k) for k in same}
    assert test_acc == ev.test_acc(BEST_C10)
    # in this process too: an unpickled copy answers the same
    copy = pickle.loads(blob)
    assert copy.val_acc(BEST_C10) == ev.val_acc(BEST_C10) and copy.name == ev.name


def test_cached_table_reloads_a_changed_file_and_memory_tables_still_pickle(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import pickle
    import shutil

    from nas.evaluators.table import cached_table

    src = shared_path("fixtures", "benchmarks", "nas-bench-macro_cifar10.json")
    path = tmp_path / src.name
    shutil.copy(src, path)
    first = cached_table(path)
    assert cached_table(str(path)) is first and first.path == str(path.resolve())
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert cached_table(path) is not first  # a new mtime: read again
    mem = BenchmarkTable(
        "mem", "nb201", ("a", "b"), {("cifar10", 0): np.array([0.5, 0.6])},
        {("cifar10", 0): np.array([0.4, 0.7])}, {"cifar10": np.array([1.0, 2.0])},
        {"cifar10": np.array([3.0, 4.0])}, default_fidelity=0,
    )  # fmt: skip
    ev = pickle.loads(pickle.dumps(TableEvaluator(mem)))  # no file: the table travels along
    assert ev.test_acc("b") == pytest.approx(0.7) and ev(_cand("a")).metrics["val_acc"] == 0.5


def test_recorded_times_and_resumed_rungs(table) -> None:  # type: ignore[no-untyped-def]
    """Issue 25: the table's recorded seconds per epoch give the time axis; a lookup at a
    rung carries its epochs and is charged only for the epochs after ``from_epochs``."""
    from nas.evaluators.table import RecordedTimes

    ev = TableEvaluator(table, "cifar10", 200, cost_model=RecordedTimes())
    c = _cand(BEST_C10)
    per_epoch = float(table.train_s["cifar10"][table.index[BEST_C10]])
    assert per_epoch > 0 and ev(c).cost.gpu_seconds == pytest.approx(200 * per_epoch)
    r12 = ev.evaluate_at(c, 12, full=200).validate()
    assert (r12.fidelity_epochs, r12.fidelity_max, r12.is_final) == (12, 200, False)
    assert r12.metrics["val_acc"] == pytest.approx(
        table.val[("cifar10", 12)][table.index[BEST_C10]]
    )
    assert r12.cost.gpu_seconds == pytest.approx(12 * per_epoch)
    r200 = ev.evaluate_at(c, 200, from_epochs=12, full=200).validate()
    assert r200.is_final and r200.cost.gpu_seconds == pytest.approx(188 * per_epoch)
    with pytest.raises(TableError, match="fidelity 50"):
        ev.evaluate_at(c, 50)
    with pytest.raises(TableError, match="resume from epoch 200"):
        ev.evaluate_at(c, 12, from_epochs=200)
