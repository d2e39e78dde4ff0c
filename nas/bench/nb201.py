"""The NAS-Bench-201 benchmark (in-process, no store, no executor).

Per (strategy, dataset, seed), under a :class:`~nas.bench.protocol.Protocol` (``archlab`` or
``paper``, see :mod:`nas.bench.protocol`):

1. The strategy is built with ``numpy.random.default_rng(seed)`` and searches NB201 cells;
   each proposal is evaluated by :class:`~nas.evaluators.TableEvaluator`, which returns the
   **validation** accuracy at the protocol's fidelity (200 epochs, or 12). Candidates are
   asked and told one at a time (sequential search).
2. After the budget (evaluations, and/or simulated training seconds) the evaluated cell with
   the best validation accuracy (first evaluated on ties) is chosen; only now is its
   **test** accuracy (200 epochs) read.
3. Efficiency, as LAPT reports it: ``evals_to_best_val`` = 1-based index of the first
   evaluation of a cell isomorphic to the **best-validation cell of the space** (highest
   validation accuracy at the searched fidelity); a seed that misses it counts as the
   number of evaluations it made (the budget) in ``evals_to_best_val_mean``, and
   ``best_val_reached`` counts the seeds that reached it.
4. Separately, ``evals_to_test_optimum``: the first evaluation of the cell with the highest
   200-epoch **test** accuracy (94.37 / 73.51 / 47.31 %) — a reporting column only.

With a fidelity schedule (``fidelity=FidelityConfig(kind="asha", ...)``, the same section a
run reads; ``archlab bench nb201 --fidelity asha``) every proposal is first looked up at the
table's shortest training length in ``[min_epochs, max_epochs]`` (NB201: 12 epochs), the
ASHA rung rule (:mod:`nas.controller.fidelity`) promotes it or stops it, and a promoted one
resumes to the next length the table holds (NB201: 200), charged only for the epochs after
its rung. The strategy is told the full-fidelity result, or PRUNED without metrics; the
selected cell is the best *full-fidelity* validation accuracy. ``gpu_seconds`` sums what
every rung charged (with ``time_model="recorded"``: the table's recorded seconds per epoch).

Strategies are budget-agnostic, so the run for the largest budget contains every smaller
budget's run as a prefix; :func:`run_bench` evaluates once and summarizes each budget.

LAPT learns its principles from a *source* dataset's 200-epoch validation accuracies
(default: ImageNet16-120 for CIFAR targets, CIFAR-10 for ImageNet16-120), never from the
target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from nas.bench.protocol import PROTOCOLS, PUBLISHED, get_protocol
from nas.bench.protocol import Protocol as BenchProtocol
from nas.controller.fidelity import Asha, FidelityConfig
from nas.evaluators.table import NB201_DATASETS, BenchmarkTable, RecordedTimes, TableEvaluator
from nas.records import Candidate, TrialRecord, TrialState
from nas.spaces.nb201 import NB201Space
from nas.strategies import StrategyError
from nas.strategies.base import Strategy
from nas.strategies.principles import SourceTask

__all__ = [
    "BEST_VAL_DEFINITION",
    "DEFAULT_SOURCE",
    "OPTIMUM_DEFINITION",
    "PROTOCOLS",
    "PUBLISHED",
    "STRATEGIES",
    "BenchResult",
    "SeedResult",
    "StrategyMaker",
    "run_asha_trajectory",
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
BEST_VAL_DEFINITION = (
    "the cell with the highest validation accuracy of the space at the searched fidelity; "
    "reached = first evaluation of a cell isomorphic to it; the mean counts a seed that "
    "never reached it at the number of evaluations it made"
)


def source_task(table: BenchmarkTable, dataset: str, fidelity: int = 200) -> SourceTask:
    """The source task for LAPT: every cell with its ``dataset`` validation accuracy."""
    key = table.check(dataset, fidelity)
    return SourceTask(dataset, table.archs, tuple(float(v) for v in table.val[key]))


class StrategyMaker(Protocol):
    """Builds the strategy of one seed: ``make(name, seed, source, options)``. The launcher's
    composition root passes :func:`launcher.build.bench_strategy` (the one builder, the
    same section ``strategy.<name>`` a run reads, with ``options`` applied to it)."""

    def __call__(self, name: str, seed: int, source: SourceTask | None,
                 options: Mapping[str, Any]) -> Strategy: ...  # fmt: skip


def run_trajectory(
    strategy: Strategy,
    evaluate: Callable[[Candidate], TrialRecord],
    budget: int,
    time_budget_s: float | None = None,
) -> list[tuple[Candidate, TrialRecord]]:
    """Ask one, evaluate, tell — until ``budget`` evaluations, the simulated training time
    ``time_budget_s`` is spent (the evaluation that crosses it counts, as in NB201's code),
    or the strategy has nothing left to propose."""
    out: list[tuple[Candidate, TrialRecord]] = []
    spent = 0.0
    while len(out) < budget and (time_budget_s is None or spent < time_budget_s):
        cands = strategy.ask(1)
        if not cands:
            break
        c = cands[0]
        r = evaluate(c)
        strategy.tell([(c, r)])
        out.append((c, r))
        spent += r.cost.gpu_seconds
    return out


def run_asha_trajectory(
    strategy: Strategy,
    evaluator: TableEvaluator,
    asha: Asha,
    budget: int,
    time_budget_s: float | None = None,
) -> list[tuple[Candidate, TrialRecord]]:
    """:func:`run_trajectory` under a fidelity schedule: each proposal trains to its first
    rung, then is promoted (resumed to the next rung, charged for the new epochs only) or
    stopped (PRUNED, carrying its rung's value for the record; the strategy sees no metric).
    One record per proposal: its last rung's result, ``gpu_seconds`` summed over its rungs."""

    def through_rungs(c: Candidate) -> TrialRecord:
        epochs, done, gpu = asha.assign(c.id), 0, 0.0
        while True:
            r = evaluator.evaluate_at(c, epochs, done, asha.full)
            gpu += r.cost.gpu_seconds
            if r.state is not TrialState.COMPLETE or epochs == asha.full:
                break
            d = asha.decide(c.id, epochs, float(r.metrics["val_acc"]))
            if not d.promote:
                kept = max(d.competitors // asha.eta, 1)
                r = r.with_(state=TrialState.PRUNED, error=(
                    f"stopped at rung {epochs} epochs: rank {d.rank} of {d.competitors} "
                    f"(top {kept} promoted)"))  # fmt: skip
                break
            done, epochs = epochs, d.next_epochs
        return r.with_(cost=replace(r.cost, gpu_seconds=gpu))

    return run_trajectory(strategy, through_rungs, budget, time_budget_s)


@dataclass(frozen=True)
class SeedResult:
    seed: int
    arch: str  # chosen: best validation accuracy among the evaluated cells
    val_acc: float  # its validation accuracy at the searched fidelity (fraction)
    test_acc: float  # its 200-epoch test accuracy (fraction), read after selection
    evaluations: int  # evaluations used (duplicates included in the paper protocol)
    evals_to_best_val: int | None  # 1-based index of the first best-val-cell evaluation
    evals_to_test_optimum: int | None  # 1-based index of the first test-optimum evaluation
    gpu_hours: float  # simulated GPU-hours of the evaluations (the run's time model)
    distinct: int  # distinct cells (isomorphism classes) evaluated
    gpu_seconds: float = 0.0  # the same, in simulated GPU-seconds
    pruned: int = 0  # proposals stopped at a rung by the fidelity schedule


def _mean_std(xs: Sequence[float]) -> tuple[float, float]:
    if not xs:
        return (math.nan, math.nan)
    a = np.asarray(xs, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


@dataclass
class BenchResult:
    strategy: str
    dataset: str
    budget: int  # evaluations (a cap when time_budget_s is set)
    fidelity: int
    source: str | None
    optimum_arch: str
    optimum_test_acc: float
    best_val_arch: str = ""
    best_val_acc: float = math.nan
    protocol: str = "archlab"
    time_budget_s: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    seeds: list[SeedResult] = field(default_factory=list)
    schedule: dict[str, Any] = field(default_factory=dict)  # fidelity schedule ({} = none)
    time_model: str = "flops"  # flops | recorded: what gpu_seconds are simulated from
    search_dataset: str = ""  # the data set searched (the reported one when equal)

    def stats(self) -> dict[str, Any]:
        tm, ts = _mean_std([s.test_acc for s in self.seeds])
        vm, vs = _mean_std([s.val_acc for s in self.seeds])
        to_bv = [
            s.evals_to_best_val if s.evals_to_best_val is not None else s.evaluations
            for s in self.seeds
        ]
        reached_opt = [
            s.evals_to_test_optimum for s in self.seeds if s.evals_to_test_optimum is not None
        ]
        return {
            "test_acc_mean": tm,
            "test_acc_std": ts,
            "val_acc_mean": vm,
            "val_acc_std": vs,
            "evals_to_best_val_mean": float(np.mean(to_bv)) if to_bv else None,
            "evals_to_best_val_max": int(max(to_bv)) if to_bv else None,
            "best_val_reached": sum(s.evals_to_best_val is not None for s in self.seeds),
            "test_optimum_reached": len(reached_opt),
            "evals_to_test_optimum_mean_reached": (
                float(np.mean(reached_opt)) if reached_opt else None
            ),
            "evaluations_mean": float(np.mean([s.evaluations for s in self.seeds]))
            if self.seeds
            else 0.0,
            "gpu_hours_mean": float(np.mean([s.gpu_hours for s in self.seeds]))
            if self.seeds
            else 0.0,
            "gpu_seconds_mean": float(np.mean([s.gpu_seconds for s in self.seeds]))
            if self.seeds
            else 0.0,
            "pruned_mean": float(np.mean([s.pruned for s in self.seeds])) if self.seeds else 0.0,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "dataset": self.dataset,
            "protocol": self.protocol,
            "budget": self.budget,
            "time_budget_s": self.time_budget_s,
            "fidelity": self.fidelity,
            "source": self.source,
            "options": dict(self.options),
            "fidelity_schedule": dict(self.schedule),
            "search_dataset": self.search_dataset or self.dataset,
            "time_model": self.time_model,
            "best_val": {
                "definition": BEST_VAL_DEFINITION,
                "arch": self.best_val_arch,
                "val_acc": self.best_val_acc,
            },
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
    report: TableEvaluator,
    best_val_hash: str,
    optimum_hash: str,
    time_budget_s: float | None = None,
) -> SeedResult:
    """Choose by validation within the budget's prefix of the trajectory; read test after.

    The prefix holds at most ``budget`` evaluations and, with ``time_budget_s``, stops after
    the evaluation that spends it. ``report`` is the 200-epoch evaluator whose test accuracy
    is reported.
    """
    best: tuple[Candidate, float] | None = None
    to_best_val: int | None = None
    to_opt: int | None = None
    gpu_s = 0.0
    n = 0
    pruned = 0
    hashes: set[str] = set()
    for c, r in trajectory[:budget]:
        if time_budget_s is not None and gpu_s >= time_budget_s:
            break
        n += 1
        gpu_s += r.cost.gpu_seconds
        pruned += r.state is TrialState.PRUNED
        hashes.add(c.arch_hash)
        if to_best_val is None and c.arch_hash == best_val_hash:
            to_best_val = n
        if to_opt is None and c.arch_hash == optimum_hash:
            to_opt = n
        if r.state is TrialState.COMPLETE and (
            best is None or float(r.metrics["val_acc"]) > best[1]
        ):
            best = (c, float(r.metrics["val_acc"]))
    if best is None:
        return SeedResult(seed, "", math.nan, math.nan, n, to_best_val, to_opt, gpu_s / 3600,
                          len(hashes), gpu_s, pruned)  # fmt: skip
    arch = best[0].arch
    return SeedResult(
        seed,
        arch,
        best[1],
        report.test_acc(arch),
        n,
        to_best_val,
        to_opt,
        gpu_s / 3600,
        len(hashes),
        gpu_s,
        pruned,
    )


def run_bench(
    table: BenchmarkTable,
    strategy: str,
    dataset: str,
    budgets: Sequence[int],
    seeds: Sequence[int],
    fidelity: int | None = None,
    source: str | None = None,
    options: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    protocol: str | BenchProtocol = "archlab",
    time_budgets: Sequence[float] = (),
    *,
    make: StrategyMaker,
    schedule: FidelityConfig | None = None,
    time_model: str = "",
) -> list[BenchResult]:
    """Run ``strategy`` on ``dataset`` for every seed once (largest budget) and summarize
    each budget: one result per evaluation budget, then one per time budget (seconds,
    capped at the largest evaluation budget). Deterministic for a given seed.

    ``make`` builds each seed's strategy (the launcher passes its one builder,
    :func:`launcher.build.bench_strategy`). ``fidelity`` overrides the protocol's;
    ``options`` are settings of section ``strategy.<name>`` (:func:`nas.bench.protocol.strategy_options` builds them with the protocol's
    defaults) — given as None, the protocol's defaults are used. ``schedule``: a fidelity
    schedule (section ``fidelity``; ``kind=asha`` or ``hyperband``) whose rungs are the
    table's training lengths within ``[min_epochs, max_epochs]``; the search's fidelity is
    then ``max_epochs``. ``time_model``: ``flops`` (the protocol's FLOPs model) or
    ``recorded`` (the table's recorded training seconds per epoch); "" = the protocol's.
    A protocol with a ``search_dataset`` (``paper-c10``) searches that data set and reports
    the selected cell's test accuracy on ``dataset``.
    """
    proto = protocol if isinstance(protocol, BenchProtocol) else get_protocol(protocol)
    fid = proto.fidelity if fidelity is None else int(fidelity)
    asha_cfg = schedule if schedule is not None and schedule.enabled else None
    ladder: tuple[int, ...] = ()
    if asha_cfg is not None:
        asha_cfg.validate("fidelity.")
        ladder = asha_cfg.rungs_within(table.fidelities)
        fid = asha_cfg.max_epochs
    time_model = time_model or proto.time_model
    if time_model not in ("flops", "recorded"):
        raise StrategyError(f"time model {time_model!r}: choose flops or recorded")
    cost = RecordedTimes() if time_model == "recorded" else proto.cost_model
    if dataset not in NB201_DATASETS:
        raise StrategyError(f"dataset {dataset!r}: choose one of {', '.join(NB201_DATASETS)}")
    if not budgets or min(budgets) < 1:
        raise StrategyError(f"budgets must be >= 1, got {list(budgets)}")
    if any(t <= 0 for t in time_budgets):
        raise StrategyError(f"time budgets must be > 0 seconds, got {list(time_budgets)}")
    opts = dict(proto.strategy_defaults.get(strategy, {}) if options is None else options)
    search = proto.search_dataset or dataset
    evaluator = TableEvaluator(table, search, fid, cost_model=cost)
    report = TableEvaluator(table, dataset, 200)
    space = NB201Space()
    optimum = table.argmax(dataset, 200, "test")
    best_val = table.argmax(search, fid, "val")
    optimum_hash = space.arch_hash(optimum)
    best_val_hash = space.arch_hash(best_val)
    src_name = None
    src = None
    if strategy == "lapt":
        src_name = source or DEFAULT_SOURCE[search]
        if src_name == search:
            raise StrategyError(
                f"LAPT's source must differ from the target ({search}); the principles would "
                "be learned from the target's own table"
            )
        src = source_task(table, src_name, 200)
    top = max(budgets)
    points: list[tuple[int, float | None]] = [(b, None) for b in budgets]
    points += [(top, float(t)) for t in time_budgets]
    results = [
        BenchResult(
            strategy,
            dataset,
            b,
            fid,
            src_name,
            optimum,
            report.test_acc(optimum),
            best_val,
            evaluator.val_acc(best_val),
            proto.name,
            t,
            opts,
            schedule=({**asdict(asha_cfg), "rungs": list(ladder)} if asha_cfg is not None else {}),
            time_model=time_model,
            search_dataset=search,
        )
        for b, t in points
    ]
    for seed in seeds:
        s = make(strategy, seed, src, opts)
        if asha_cfg is not None:
            traj = run_asha_trajectory(s, evaluator, Asha.of(asha_cfg, ladder), top)
        else:
            traj = run_trajectory(s, evaluator, top)
        for res in results:
            res.seeds.append(
                summarize(
                    traj, res.budget, seed, report, best_val_hash, optimum_hash, res.time_budget_s
                )
            )
        if progress:
            last = results[-1].seeds[-1]
            progress(
                f"{strategy}/{dataset} seed {seed}: test {last.test_acc * 100:.2f}% "
                f"after {last.evaluations} evals; best-val cell at "
                f"{last.evals_to_best_val or '-'}"
            )
    return results
