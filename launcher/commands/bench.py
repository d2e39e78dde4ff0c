"""``archlab bench SUITE ...``: benchmark protocols over tabular benchmarks.

Suites are subcommands, each registered by a ``register_<suite>(subparsers)`` function in
this module (``nb201`` today; other suites add their own the same way).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["SUITES", "register", "run_nb201"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench",
        help="run a benchmark protocol (e.g. NAS-Bench-201) in-process",
        description="Benchmark protocols over tabular benchmarks; no cluster, no store.",
    )
    suites = p.add_subparsers(dest="suite", metavar="SUITE")
    for reg in SUITES:
        reg(suites)

    def usage(args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=usage)


def _budgets(text: str) -> list[int]:
    try:
        out = [int(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--budget {text!r}: give integers, e.g. 10,20,100"
        ) from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"--budget {text!r}: budgets must be >= 1")
    return out


def _seconds(text: str) -> list[float]:
    try:
        out = [float(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--time-budget {text!r}: give seconds, e.g. 12000"
        ) from None
    if not out or min(out) <= 0:
        raise argparse.ArgumentTypeError(f"--time-budget {text!r}: seconds must be > 0")
    return out


def register_nb201(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from nas.bench.nb201 import STRATEGIES
    from nas.bench.protocol import PROTOCOLS

    p = sub.add_parser(
        "nb201",
        help="search NAS-Bench-201 with a strategy; report test accuracy of the chosen cell",
        description=(
            "Search sees validation accuracy only (200 epochs in --protocol archlab, 12 in "
            "--protocol paper); after the budget the cell with the best validation accuracy "
            "is reported with its 200-epoch test accuracy. Per seed: chosen cell, val/test "
            "accuracy, evaluations, evaluations until the best-validation cell of the space "
            "was first evaluated (LAPT's metric; misses counted at the budget) and until the "
            "test optimum was; then mean ± std. Deterministic per seed."
        ),
    )
    p.add_argument("--strategy", required=True, choices=STRATEGIES)
    p.add_argument("--dataset", required=True, choices=("cifar10", "cifar100", "imagenet16"))
    p.add_argument(
        "--budget",
        type=_budgets,
        default=[100],
        metavar="N[,N...]",
        help="evaluations per seed; several budgets share one run (prefixes); default 100",
    )
    p.add_argument(
        "--time-budget",
        type=_seconds,
        default=None,
        metavar="S[,S...]",
        help="also report after S simulated training seconds (capped at the largest "
        "--budget); --protocol paper defaults to 12000, the NB201 paper's budget",
    )
    p.add_argument(
        "--protocol",
        choices=tuple(PROTOCOLS),
        default="archlab",
        help="archlab: 200-epoch validation, isomorphs never re-evaluated, evaluations budget; "
        "paper: NB201 paper's rules searched per data set (12-epoch validation, duplicates "
        "counted, FLOPs time budget); paper-c10: NB201 Table 5 as run (CIFAR-10 search, "
        "recorded training time, the selected cell reported on --dataset)",
    )
    p.add_argument("--seeds", type=int, default=5, metavar="S", help="seeds 0..S-1 (default 5)")
    p.add_argument("--seed-offset", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--table", required=True, metavar="PATH", help="NAS-Bench-201 Parquet table")
    p.add_argument(
        "--source",
        choices=("cifar10", "cifar100", "imagenet16"),
        default=None,
        help="LAPT source task (default: imagenet16 for CIFAR targets, cifar10 for imagenet16)",
    )
    p.add_argument(
        "--fidelity", choices=("200", "12", "asha"), default=None,
        help="epochs searched (default: the protocol's); asha: every proposal is looked up "
        "at 12 epochs and only the top 1/--eta of those that reached 12 resume to 200 "
        "(section fidelity, kind=asha; see docs/controller.md)",
    )  # fmt: skip
    p.add_argument(
        "--eta", type=int, default=None, metavar="N",
        help="with --fidelity asha: the reduction factor (default: fidelity.eta, 3)",
    )  # fmt: skip
    p.add_argument(
        "--time-model", choices=("flops", "recorded"), default="",
        help="what simulated GPU-seconds come from: the FLOPs model or the table's recorded "
        "training seconds per epoch (NATS-Bench, evaluation excluded); default: the "
        "protocol's (recorded for paper-c10, flops otherwise)",
    )  # fmt: skip
    p.add_argument(
        "--preset", default=None, metavar="NAME",
        help="named option set of the strategy, e.g. 'paper' (LAPT: population 5, sample 2, "
        "adaptation every 3 iterations; REA: population 10, sample 3)",
    )  # fmt: skip
    p.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
        help="a strategy option, e.g. lapt.population=5 or top_k=20 (repeatable)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run_nb201)


def register_nad(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from launcher.commands.bench_nad import register_nad as _register

    _register(sub)


SUITES = (register_nb201, register_nad)


def _pct(x: float) -> str:
    return f"{x * 100:.2f}"


def _opt(n: int | None) -> str:
    return "-" if n is None else str(n)


def run_nb201(args: argparse.Namespace) -> int:
    from launcher.build import bench_strategy
    from launcher.config import ConfigError
    from nas.bench.nb201 import BEST_VAL_DEFINITION, OPTIMUM_DEFINITION, run_bench
    from nas.bench.protocol import get_protocol, parse_sets, strategy_options
    from nas.config_checks import SettingError
    from nas.controller.fidelity import FidelityConfig
    from nas.evaluators.table import TableError, load_table
    from nas.strategies.base import StrategyError

    if args.seeds < 1:
        raise ConfigError(f"--seeds {args.seeds}: give at least 1")
    try:
        proto = get_protocol(args.protocol)
        options = strategy_options(
            args.strategy, proto, args.preset, parse_sets(args.sets, args.strategy)
        )
        times = args.time_budget
        if times is None:
            times = [proto.time_budget_s] if proto.time_budget_s else []
        table = load_table(args.table)
        if table.arch_kind != "nb201":
            raise ConfigError(f"--table {args.table}: not a NAS-Bench-201 table")
        schedule = None
        epochs = None if args.fidelity in (None, "asha") else int(args.fidelity)
        if args.fidelity == "asha":
            base = FidelityConfig()
            eta = base.eta if args.eta is None else args.eta
            schedule = FidelityConfig(kind="asha", min_epochs=12, max_epochs=200, eta=eta)
        elif args.eta is not None:
            raise ConfigError("--eta is a setting of --fidelity asha: add --fidelity asha")

        def progress(msg: str) -> None:
            if not args.quiet:
                print(f"[bench] {msg}", file=sys.stderr, flush=True)

        results = run_bench(
            table,
            args.strategy,
            args.dataset,
            args.budget,
            range(args.seed_offset, args.seed_offset + args.seeds),
            fidelity=epochs,
            source=args.source,
            options=options,
            progress=progress,
            protocol=proto,
            time_budgets=times,
            make=bench_strategy,
            schedule=schedule,
            time_model=args.time_model,
        )
    except (TableError, StrategyError, SettingError) as e:
        raise ConfigError(str(e)) from None
    if args.json:
        doc: dict[str, Any] = {
            "protocol": {"name": proto.name, "description": proto.description},
            "results": [r.to_dict() for r in results],
        }
        print(json.dumps(doc, indent=1))
        return 0
    print(f"protocol {proto.name}: {proto.description}")
    print(f"best-validation cell: {BEST_VAL_DEFINITION}")
    print(f"test optimum: {OPTIMUM_DEFINITION}")
    for r in results:
        st = r.stats()
        src = f", source={r.source}" if r.source else ""
        tb = f", time budget {r.time_budget_s:g} s" if r.time_budget_s is not None else ""
        if r.search_dataset and r.search_dataset != r.dataset:
            tb += f", searched on {r.search_dataset}"
        if r.schedule:
            tb += f", {r.schedule['kind']} rungs {r.schedule['rungs']} eta {r.schedule['eta']}"
        opts = f", options {r.options}" if r.options else ""
        print(
            f"\n{r.strategy} on {r.dataset}, budget {r.budget}{tb}, fidelity {r.fidelity}{src}"
            f"{opts} (best-val cell {_pct(r.best_val_acc)}% val; test optimum "
            f"{_pct(r.optimum_test_acc)}%)"
        )
        print(
            f"{'seed':>4}  {'val%':>6}  {'test%':>6}  {'evals':>5}  {'to_bv':>5}  {'to_opt':>6}"
            "  arch"
        )
        for s in r.seeds:
            print(
                f"{s.seed:>4}  {_pct(s.val_acc):>6}  {_pct(s.test_acc):>6}  {s.evaluations:>5}"
                f"  {_opt(s.evals_to_best_val):>5}  {_opt(s.evals_to_test_optimum):>6}  {s.arch}"
            )
        e2o = st["evals_to_test_optimum_mean_reached"]
        print(
            f"mean ± std: test {_pct(st['test_acc_mean'])} ± {_pct(st['test_acc_std'])}%, "
            f"val {_pct(st['val_acc_mean'])} ± {_pct(st['val_acc_std'])}%; best-val cell: "
            f"{st['evals_to_best_val_mean']:.1f} evals (all seeds, misses at the budget), "
            f"reached in {st['best_val_reached']}/{len(r.seeds)} seeds; test optimum reached "
            f"in {st['test_optimum_reached']}/{len(r.seeds)} seeds"
            + (f" (mean {e2o:.1f} evals over those)" if e2o is not None else "")
            + f"; {st['evaluations_mean']:.0f} evals ({st['pruned_mean']:.0f} pruned), "
            f"simulated {st['gpu_seconds_mean']:.0f} GPU-s = {st['gpu_hours_mean']:.1f} GPU-h "
            f"per seed ({r.time_model} time model)"
        )
    return 0
