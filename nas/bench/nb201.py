"""The NAS-Bench-201 benchmark protocol (in-process, no store, no executor).

Protocol, per (strategy, dataset, seed):

1. The strategy is built with ``numpy.random.default_rng(seed)`` and searches NB201 cells;
   each proposal is evaluated by :class:`~nas.evaluators.TableEvaluator`, which returns the
   **validation** accuracy at the searched fidelity (200 epochs, or 12 as the cheap one).
   Candidates are asked and told one at a time (sequential search).
2. After ``budget`` evaluations the evaluated cell with the best validation accuracy (first
   evaluated on ties) is chosen; only now is its **test** accuracy (200 epochs) read.
3. ``evals_to_optimum`` = 1-based index of the first evaluation of a cell isomorphic to the
   *optimum*, defined as the cell with the highest 200-epoch **test** accuracy of the
   dataset (94.37 / 73.51 / 47.31 % for CIFAR-10 / CIFAR-100 / ImageNet16-120) — the
   number papers such as LAPT report; ``None`` when not reached within the budget.

Strategies are budget-agnostic, so the run for the largest budget contains every smaller
budget's run as a prefix; :func:`run_bench` evaluates once and summarizes each budget.

LAPT learns its principles from a *source* dataset's validation accuracies (default:
ImageNet16-120 for CIFAR targets, CIFAR-10 for ImageNet16-120), never from the target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from nas.evaluators.table import NB201_DATASETS, BenchmarkTable, TableEvaluator
from nas.records import Candidate, TrialRecord, TrialState
from nas.spaces.nb201 import NB201Space
from nas.strategies import StrategyError, create
from nas.strategies.base import Strategy
from nas.strategies.principles import SourceTask

__all__ = [
    "DEFAULT_SOURCE",
    "OPTIMUM_DEFINITION",
    "PUBLISHED",
    "STRATEGIES",
    "BenchResult",
    "SeedResult",
    "make_strategy",
    "run_bench",
    "run_trajectory",
    "source_task",
    "summarize",
]

STRATEGIES = ("random", "rea", "lapt", "llmatic")
DEFAULT_SOURCE = {"cifar10": "imagenet16", "cifar100": "imagenet16", "imagenet16": "cifar10"}
OPTIMUM_DEFINITION = (
    "the cell with the highest 200-epoch test accuracy of the dataset; reached = first "
    "evaluation of a cell isomorphic to it"
)

# Published NB201 test accuracies (%) and their budgets, for side-by-side tables.
PUBLISHED: dict[str, dict[str, Any]] = {
    "REA (Real et al.; NB201 paper)": {
        "evaluations": 500,
        "cifar10": 93.92,
        "cifar100": 71.84,
        "imagenet16": 45.54,
    },
    "LLMatic (Nasir et al.)": {
        "evaluations": 2000,
        "cifar10": 94.26,
        "cifar100": 71.62,
        "imagenet16": 45.87,
    },
    "LAPT (Zhou et al.), evals to optimum": {
        "evaluations": None,
        "cifar10": "4.9 evals",
        "cifar100": "8.6 evals",
        "imagenet16": "n/a",
    },
}


def source_task(table: BenchmarkTable, dataset: str, fidelity: int = 200) -> SourceTask:
    """The source task for LAPT: every cell with its ``dataset`` validation accuracy."""
    key = table.check(dataset, fidelity)
    return SourceTask(dataset, table.archs, tuple(float(v) for v in table.val[key]))


def make_strategy(
    name: str,
    seed: int,
    source: SourceTask | None = None,
    options: Mapping[str, Any] | None = None,
) -> Strategy:
    """Build a benchmark strategy over NB201 cells with ``default_rng(seed)``.

    ``options`` are extra constructor keywords (e.g. ``population_size`` for REA).
    """
    kwargs: dict[str, Any] = {"rng": np.random.default_rng(seed), "seed": seed}
    kwargs["space"] = NB201Space()
    if name == "lapt":
        if source is None:
            raise StrategyError("LAPT needs a source task (e.g. --source imagenet16)")
        kwargs["source"] = source
    kwargs.update(options or {})
    return create(name, **kwargs)


def run_trajectory(
    strategy: Strategy, evaluate: Callable[[Candidate], TrialRecord], budget: int
) -> list[tuple[Candidate, TrialRecord]]:
    """Ask one, evaluate, tell — ``budget`` times (or until the space is exhausted)."""
    out: list[tuple[Candidate, TrialRecord]] = []
    while len(out) < budget:
        cands = strategy.ask(1)
        if not cands:
            break
        c = cands[0]
        r = evaluate(c)
        strategy.tell([(c, r)])
        out.append((c, r))
    return out


@dataclass(frozen=True)
class SeedResult:
    seed: int
    arch: str  # chosen: best validation accuracy among the evaluated cells
    val_acc: float  # its validation accuracy at the searched fidelity (fraction)
    test_acc: float  # its 200-epoch test accuracy (fraction), read after selection
    evaluations: int  # evaluations used
    evals_to_optimum: int | None  # 1-based index of the first optimum evaluation, or None
    gpu_hours: float  # simulated GPU-hours of the evaluations (FLOPs cost model)


def _mean_std(xs: Sequence[float]) -> tuple[float, float]:
    if not xs:
        return (math.nan, math.nan)
    a = np.asarray(xs, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


@dataclass
class BenchResult:
    strategy: str
    dataset: str
    budget: int
    fidelity: int
    source: str | None
    optimum_arch: str
    optimum_test_acc: float
    seeds: list[SeedResult] = field(default_factory=list)

    def stats(self) -> dict[str, Any]:
        tm, ts = _mean_std([s.test_acc for s in self.seeds])
        vm, vs = _mean_std([s.val_acc for s in self.seeds])
        reached = [s.evals_to_optimum for s in self.seeds if s.evals_to_optimum is not None]
        return {
            "test_acc_mean": tm,
            "test_acc_std": ts,
            "val_acc_mean": vm,
            "val_acc_std": vs,
            "optimum_reached": len(reached),
            "evals_to_optimum_mean": float(np.mean(reached)) if reached else None,
            "gpu_hours_mean": float(np.mean([s.gpu_hours for s in self.seeds]))
            if self.seeds
            else 0.0,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "dataset": self.dataset,
            "budget": self.budget,
            "fidelity": self.fidelity,
            "source": self.source,
            "optimum": {
                "definition": OPTIMUM_DEFINITION,
                "arch": self.optimum_arch,
                "test_acc": self.optimum_test_acc,
            },
            "seeds": [asdict(s) for s in self.seeds],
            **self.stats(),
        }


def summarize(
    trajectory: Sequence[tuple[Candidate, TrialRecord]],
    budget: int,
    seed: int,
    evaluator: TableEvaluator,
    report: TableEvaluator,
    optimum_hash: str,
) -> SeedResult:
    """Choose by validation within the first ``budget`` evaluations; read test afterwards.

    ``evaluator`` is what the search saw; ``report`` the 200-epoch evaluator whose test
    accuracy is reported (the same object at fidelity 200).
    """
    prefix = list(trajectory[:budget])
    best: tuple[Candidate, float] | None = None
    reached: int | None = None
    gpu_s = 0.0
    for i, (c, r) in enumerate(prefix, start=1):
        gpu_s += r.cost.gpu_seconds
        if reached is None and c.arch_hash == optimum_hash:
            reached = i
        if r.state is TrialState.COMPLETE and (
            best is None or float(r.metrics["val_acc"]) > best[1]
        ):
            best = (c, float(r.metrics["val_acc"]))
    if best is None:
        return SeedResult(seed, "", math.nan, math.nan, len(prefix), reached, gpu_s / 3600)
    arch = best[0].arch
    return SeedResult(
        seed, arch, best[1], report.test_acc(arch), len(prefix), reached, gpu_s / 3600
    )


def run_bench(
    table: BenchmarkTable,
    strategy: str,
    dataset: str,
    budgets: Sequence[int],
    seeds: Sequence[int],
    fidelity: int = 200,
    source: str | None = None,
    options: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[BenchResult]:
    """Run ``strategy`` on ``dataset`` for every seed once (largest budget) and summarize
    each budget. Deterministic for a given seed."""
    if dataset not in NB201_DATASETS:
        raise StrategyError(f"dataset {dataset!r}: choose one of {', '.join(NB201_DATASETS)}")
    if not budgets or min(budgets) < 1:
        raise StrategyError(f"budgets must be >= 1, got {list(budgets)}")
    evaluator = TableEvaluator(table, dataset, fidelity)
    report = evaluator if fidelity == 200 else TableEvaluator(table, dataset, 200)
    space = NB201Space()
    optimum = table.argmax(dataset, 200, "test")
    optimum_hash = space.arch_hash(optimum)
    src_name = None
    src = None
    if strategy == "lapt":
        src_name = source or DEFAULT_SOURCE[dataset]
        if src_name == dataset:
            raise StrategyError(
                f"LAPT's source must differ from the target ({dataset}); the principles would "
                "be learned from the target's own table"
            )
        src = source_task(table, src_name, fidelity)
    results = [
        BenchResult(strategy, dataset, b, fidelity, src_name, optimum, report.test_acc(optimum))
        for b in budgets
    ]
    top = max(budgets)
    for seed in seeds:
        s = make_strategy(strategy, seed, src, options)
        traj = run_trajectory(s, evaluator, top)
        for res in results:
            res.seeds.append(summarize(traj, res.budget, seed, evaluator, report, optimum_hash))
        if progress:
            best = results[-1].seeds[-1]
            progress(
                f"{strategy}/{dataset} seed {seed}: test {best.test_acc * 100:.2f}% "
                f"after {best.evaluations} evals"
            )
    return results
