"""The NAS-Bench-201 benchmark protocol end to end (in-process, on the real table)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from launcher.cli import main
from nas.bench import STRATEGIES, run_bench
from nas.evaluators import BenchmarkTable, load_table
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def table() -> BenchmarkTable:
    return load_table(shared_path("data", "nb201.parquet"))


def _permuted_test(table: BenchmarkTable, seed: int) -> BenchmarkTable:
    """The same table with every test-accuracy column shuffled across cells."""
    rng = np.random.default_rng(seed)
    test = {k: v[rng.permutation(len(v))] for k, v in table.test.items()}
    return dataclasses.replace(table, test=test)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_search_never_reads_test_accuracy(table: BenchmarkTable, strategy: str) -> None:
    permuted = _permuted_test(table, 0)
    for dataset in ("cifar10", "cifar100", "imagenet16"):
        for fidelity in (200, 12):
            a = run_bench(table, strategy, dataset, [30, 100], range(2), fidelity=fidelity)
            b = run_bench(permuted, strategy, dataset, [30, 100], range(2), fidelity=fidelity)
            for ra, rb in zip(a, b, strict=True):
                assert [s.arch for s in ra.seeds] == [s.arch for s in rb.seeds]
                assert [s.val_acc for s in ra.seeds] == [s.val_acc for s in rb.seeds]
            assert [s.test_acc for s in a[-1].seeds] != [s.test_acc for s in b[-1].seeds]


def test_the_permutation_really_changes_the_table(table: BenchmarkTable) -> None:
    p = _permuted_test(table, 0)
    assert not np.array_equal(p.test[("cifar10", 200)], table.test[("cifar10", 200)])
    assert np.array_equal(p.val[("cifar10", 200)], table.val[("cifar10", 200)])


def test_cli_json_is_deterministic_and_complete(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(shared_path("data", "nb201.parquet"))
    argv = ["bench", "nb201", "--strategy", "lapt", "--dataset", "cifar100", "--budget", "10,20",
            "--seeds", "3", "--table", path, "--json", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    second = json.loads(capsys.readouterr().out)
    assert first == second
    r10, r20 = first["results"]
    assert (r10["budget"], r20["budget"], r10["source"]) == (10, 20, "imagenet16")
    seed0 = r10["seeds"][0]
    assert set(seed0) == {"seed", "arch", "val_acc", "test_acc", "evaluations",
                          "evals_to_optimum", "gpu_hours"}  # fmt: skip
    assert seed0["evaluations"] == 10 and 0 < seed0["test_acc"] < 1
    assert r10["optimum"]["test_acc"] == pytest.approx(0.7351333, abs=1e-6)
    assert "highest 200-epoch test accuracy" in r10["optimum"]["definition"]
    assert {"test_acc_mean", "test_acc_std", "optimum_reached"} <= set(r10)


def test_cli_text_output_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(shared_path("data", "nb201.parquet"))
    assert main(["bench", "nb201", "--strategy", "rea", "--dataset", "imagenet16", "--budget", "5",
                 "--seeds", "2", "--table", path, "--quiet"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "rea on imagenet16, budget 5" in out and "mean ± std: test" in out
    rc = main(["bench", "nb201", "--strategy", "lapt", "--dataset", "cifar10", "--source",
               "cifar10", "--table", path, "--quiet"])  # fmt: skip
    assert rc == 2 and "source must differ" in capsys.readouterr().err
    assert main(["bench", "nb201", "--strategy", "rea", "--dataset", "cifar10",
                 "--table", "/nonexistent.parquet"]) == 2  # fmt: skip


def test_parquet_columns_are_what_the_loader_expects() -> None:
    cols = pq.read_schema(shared_path("data", "nb201.parquet")).names
    assert {"arch_str", "cifar10_valid_val_acc", "imagenet16_test_acc_e12"} <= set(cols)
