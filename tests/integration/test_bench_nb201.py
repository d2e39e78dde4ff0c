"""The NAS-Bench-201 benchmark protocol end to end (in-process, on the real table)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from launcher.build import bench_strategy
from launcher.cli import main
from nas.bench import (
    PROTOCOLS,
    STRATEGIES,
    run_bench,
    run_trajectory,
    source_task,
)
from nas.evaluators import BenchmarkTable, TableEvaluator, load_table
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def table() -> BenchmarkTable:
    return load_table(shared_path("data", "nb201.parquet"))


def _permuted_test(table: BenchmarkTable, seed: int) -> BenchmarkTable:
    """The same table with every test-accuracy column shuffled across cells."""
    rng = np.random.default_rng(seed)
    test = {k: v[rng.permutation(len(v))] for k, v in table.test.items()}
    return dataclasses.replace(table, test=test)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_search_never_reads_test_accuracy(
    table: BenchmarkTable, strategy: str, protocol: str
) -> None:
    """Every test column permuted: every choice, and every proposal, stays the same."""
    permuted = _permuted_test(table, 0)
    for dataset in ("cifar10", "cifar100", "imagenet16"):
        timed = PROTOCOLS[protocol].time_budget_s is not None
        kw = {"protocol": protocol, "time_budgets": [3000.0] if timed else []}
        a = run_bench(table, strategy, dataset, [30, 100], range(2), make=bench_strategy, **kw)  # type: ignore[arg-type]
        b = run_bench(permuted, strategy, dataset, [30, 100], range(2), make=bench_strategy, **kw)  # type: ignore[arg-type]
        assert a[0].fidelity == PROTOCOLS[protocol].fidelity
        for ra, rb in zip(a, b, strict=True):
            assert [s.arch for s in ra.seeds] == [s.arch for s in rb.seeds]
            assert [s.val_acc for s in ra.seeds] == [s.val_acc for s in rb.seeds]
            assert [s.evals_to_best_val for s in ra.seeds] == [
                s.evals_to_best_val for s in rb.seeds
            ]
            assert [s.evaluations for s in ra.seeds] == [s.evaluations for s in rb.seeds]
        assert [s.test_acc for s in a[1].seeds] != [s.test_acc for s in b[1].seeds]


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
    assert set(seed0) == {"seed", "arch", "val_acc", "test_acc", "evaluations", "distinct",
                          "evals_to_best_val", "evals_to_test_optimum", "gpu_hours",
                          "gpu_seconds", "pruned"}  # fmt: skip
    assert seed0["evaluations"] == 10 and 0 < seed0["test_acc"] < 1
    assert r10["optimum"]["test_acc"] == pytest.approx(0.7351333, abs=1e-6)
    assert "highest 200-epoch test accuracy" in r10["optimum"]["definition"]
    assert r10["best_val"]["val_acc"] == pytest.approx(0.7349333, abs=1e-6)
    assert {"test_acc_mean", "test_acc_std", "best_val_reached", "evals_to_best_val_mean",
            "test_optimum_reached"} <= set(r10)  # fmt: skip
    # the best-validation metric over all seeds: a miss counts at the budget
    per_seed = [s["evals_to_best_val"] or s["evaluations"] for s in r10["seeds"]]
    assert r10["evals_to_best_val_mean"] == pytest.approx(sum(per_seed) / 3)
    assert r10["best_val_reached"] == sum(s["evals_to_best_val"] is not None for s in r10["seeds"])


def test_paper_protocol_counts_duplicates_and_spends_simulated_time() -> None:
    table = load_table(shared_path("data", "nb201.parquet"))
    [by_evals, by_time] = run_bench(
        table,
        "random",
        "cifar10",
        [300],
        range(3),
        protocol="paper",
        time_budgets=[5000.0],
        make=bench_strategy,
    )
    assert by_evals.fidelity == 12 and by_evals.options["allow_duplicates"] is True
    for s in by_evals.seeds:
        assert s.evaluations == 300 and s.distinct <= 300
    assert any(s.distinct < s.evaluations for s in by_evals.seeds)  # duplicates came back
    for s in by_time.seeds:  # the evaluation that crosses the budget is the last one
        assert 0 < s.evaluations < 300 and s.gpu_hours * 3600 >= 5000.0


def test_cli_text_output_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(shared_path("data", "nb201.parquet"))
    assert main(["bench", "nb201", "--strategy", "rea", "--dataset", "imagenet16", "--budget", "5",
                 "--seeds", "2", "--table", path, "--quiet"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "rea on imagenet16, budget 5" in out and "mean ± std: test" in out
    assert "best-val cell:" in out and "protocol archlab" in out
    rc = main(["bench", "nb201", "--strategy", "lapt", "--dataset", "cifar10", "--source",
               "cifar10", "--table", path, "--quiet"])  # fmt: skip
    assert rc == 2 and "source must differ" in capsys.readouterr().err
    assert main(["bench", "nb201", "--strategy", "rea", "--dataset", "cifar10",
                 "--table", "/nonexistent.parquet"]) == 2  # fmt: skip


def test_parquet_columns_are_what_the_loader_expects() -> None:
    cols = pq.read_schema(shared_path("data", "nb201.parquet")).names
    assert {"arch_str", "cifar10_valid_val_acc", "imagenet16_test_acc_e12"} <= set(cols)


def test_cli_strategy_options_preset_and_set(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(shared_path("data", "nb201.parquet"))
    argv = ["bench", "nb201", "--strategy", "lapt", "--dataset", "cifar10", "--budget", "12",
            "--seeds", "1", "--table", path, "--json", "--quiet", "--preset", "paper"]  # fmt: skip
    assert main([*argv, "--set", "lapt.population=6", "--set", "top_k=20"]) == 0
    [r] = json.loads(capsys.readouterr().out)["results"]
    assert r["options"] == {"population_size": 6, "sample_size": 2, "adapt_every": 3, "top_k": 20}
    assert main([*argv, "--set", "lapt.keep_ratio=0", "--set", "lapt.max_ops=3"]) == 0
    [wide] = json.loads(capsys.readouterr().out)["results"]
    assert wide["options"]["max_ops"] == 3 and wide["options"]["keep_ratio"] == 0
    table = load_table(path)  # the learner's options reach the learner
    one = bench_strategy("lapt", 0, source_task(table, "imagenet16"), {"max_ops": 1})
    assert one.principles.size() == 1  # type: ignore[attr-defined]
    assert main([*argv, "--set", "lapt.popsize=5"]) == 2
    err = capsys.readouterr().err
    assert "lapt.popsize does not exist" in err and "population_size" in err
    assert main([*argv, "--set", "rea.population=5"]) == 2
    assert "write lapt.population" in capsys.readouterr().err
    assert main([*argv[:-1], "nonesuch"]) == 2
    assert "presets are paper" in capsys.readouterr().err


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_llmatic_500_evaluations_use_the_prompt_archive_and_fill_the_niches(seed: int) -> None:
    """Counted from the run's own ``variation``/``archive`` events, not from internals."""
    table = load_table(shared_path("data", "nb201.parquet"))
    s = bench_strategy("llmatic", seed)
    traj = run_trajectory(s, TableEvaluator(table, "cifar10", 200), 500)
    assert len(traj) == 500
    events = s.pop_events(final=True)
    [*_, v] = [e for k, e in events if k == "variation"]
    [*_, net] = [e for k, e in events if k == "archive" and e["archive"] == "network"]
    assert v["proposals"] == 500 and sum(v["counts"].values()) == 500
    assert v["distinct_prompts"] > 4
    assert len(net["cells"]) >= 16 and net["niches"] == 20
    assert abs(v["crossover_rate"] - 0.3) <= 0.05 and v["configured_crossover_rate"] == 0.3
    assert v["random_fallback_rate"] < 0.10
    # the counts agree with the proposals themselves
    agents = [c.origin.agent for c, _ in traj]
    assert v["counts"]["random-fallback"] == agents.count("random-fallback")
    assert v["counts"]["crossover"] == sum(a.endswith(":crossover") for a in agents)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_json_reports_simulated_gpu_seconds_next_to_evaluations(
    strategy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 25: every strategy's JSON carries GPU-seconds beside its evaluations."""
    path = str(shared_path("data", "nb201.parquet"))
    assert main(["bench", "nb201", "--strategy", strategy, "--dataset", "cifar10", "--budget",
                 "6", "--seeds", "1", "--table", path, "--json", "--quiet",
                 "--time-model", "recorded"]) == 0  # fmt: skip
    [r] = json.loads(capsys.readouterr().out)["results"]
    assert r["time_model"] == "recorded" and r["evaluations_mean"] == 6
    [s] = r["seeds"]
    assert s["gpu_seconds"] > 0 and r["gpu_seconds_mean"] == s["gpu_seconds"]
    assert s["gpu_hours"] == pytest.approx(s["gpu_seconds"] / 3600)


def test_asha_on_the_table_prunes_resumes_and_charges_honest_time(table: BenchmarkTable) -> None:
    """Two rungs (12, 200): a stopped proposal costs 12 recorded epochs, a promoted one 200
    (12 + 188 resumed, never 12 + 200); the selected cell has a full-fidelity result."""
    from nas.controller.fidelity import FidelityConfig
    from nas.evaluators.table import RecordedTimes
    from nas.records import TrialState

    sch = FidelityConfig(kind="asha", min_epochs=12, max_epochs=200, eta=4)
    [r] = run_bench(table, "rea", "cifar10", [60], range(1), make=bench_strategy,
                    schedule=sch, time_model="recorded")  # fmt: skip
    assert r.schedule["rungs"] == [12, 200] and r.fidelity == 200
    ev = TableEvaluator(table, "cifar10", 200, cost_model=RecordedTimes())
    s = bench_strategy("rea", 0, None, {})
    from nas.bench.nb201 import run_asha_trajectory
    from nas.controller.fidelity import Asha

    traj = run_asha_trajectory(s, ev, Asha.of(sch, (12, 200)), 60)
    per_epoch = {c.id: ev(c).cost.gpu_seconds / 200 for c, _ in traj}
    pruned = [(c, x) for c, x in traj if x.state is TrialState.PRUNED]
    full = [(c, x) for c, x in traj if x.state is TrialState.COMPLETE]
    assert pruned and full and len(pruned) + len(full) == 60
    for c, x in pruned:
        assert x.fidelity_epochs == 12 and x.cost.gpu_seconds == pytest.approx(12 * per_epoch[c.id])
        assert (
            "rank" in x.error and x.metrics["val_acc"] == ev.evaluate_at(c, 12).metrics["val_acc"]
        )
    for c, x in full:
        assert (x.fidelity_epochs, x.fidelity_max) == (200, 200) and x.is_final
        assert x.cost.gpu_seconds == pytest.approx(200 * per_epoch[c.id])
    seed = r.seeds[0]
    assert seed.pruned == len(pruned)
    assert seed.gpu_seconds == pytest.approx(sum(x.cost.gpu_seconds for _, x in traj))
    best = max(full, key=lambda cx: cx[1].metrics["val_acc"])
    assert seed.arch == best[0].arch  # selected on full-fidelity results only
    # the strategy was told PRUNED without metrics for every stopped proposal
    told = {cid: (state, val) for cid, state, val in s.state_summary()["told"]}
    assert all(told[c.id] == ("PRUNED", None) for c, _ in pruned)


def test_fidelity_option_errors(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(shared_path("data", "nb201.parquet"))
    base = ["bench", "nb201", "--strategy", "rea", "--dataset", "cifar10", "--budget", "5",
            "--seeds", "1", "--table", path, "--quiet"]  # fmt: skip
    assert main([*base, "--eta", "4"]) == 2
    assert "--fidelity asha" in capsys.readouterr().err
    assert main([*base, "--fidelity", "asha", "--eta", "1"]) == 2
    assert "'fidelity.eta' is 1" in capsys.readouterr().err
    assert main([*base, "--fidelity", "asha", "--eta", "4"]) == 0
    assert "asha rungs [12, 200] eta 4" in capsys.readouterr().out


def test_paper_c10_searches_cifar10_once_and_reports_the_cell_everywhere(
    table: BenchmarkTable,
) -> None:
    """Issue 25: NB201's Table 5 protocol — one CIFAR-10 search (12-epoch validation, charged
    the recorded cifar10-valid seconds per epoch x 12 per query), the selected cell's
    200-epoch test accuracy on each data set."""
    kw = {"protocol": "paper-c10", "time_budgets": [12_000.0], "make": bench_strategy}
    runs = {d: run_bench(table, "rea", d, [2000], range(3), **kw)[1]  # type: ignore[arg-type]
            for d in ("cifar10", "cifar100", "imagenet16")}  # fmt: skip
    c10 = runs["cifar10"]
    assert c10.time_model == "recorded" and c10.fidelity == 12
    for d, r in runs.items():
        assert r.search_dataset == "cifar10" and r.dataset == d
        assert [s.arch for s in r.seeds] == [s.arch for s in c10.seeds]  # one search
        for s in r.seeds:
            assert s.test_acc == TableEvaluator(table, d, 200).test_acc(s.arch)
    ev = TableEvaluator(table, "cifar10", 12)
    per_epoch = table.train_s["cifar10"]
    for s in c10.seeds:  # the query that crosses 12,000 s is the last one
        assert 12_000.0 <= s.gpu_seconds < 12_000.0 + 12 * float(per_epoch.max())
        assert 40 < s.evaluations < 400
    assert ev.fidelity == 12
