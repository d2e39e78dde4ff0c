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


def register_nb201(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from nas.bench.nb201 import STRATEGIES

    p = sub.add_parser(
        "nb201",
        help="search NAS-Bench-201 with a strategy; report test accuracy of the chosen cell",
        description=(
            "Search sees validation accuracy only (200 epochs, or 12 with --fidelity 12); "
            "after the budget the cell with the best validation accuracy is reported with "
            "its 200-epoch test accuracy. Per seed: chosen cell, val/test accuracy, "
            "evaluations, evaluations until the optimum (the cell with the highest test "
            "accuracy) was first evaluated; then mean ± std. Deterministic per seed."
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
    p.add_argument("--seeds", type=int, default=5, metavar="S", help="seeds 0..S-1 (default 5)")
    p.add_argument("--seed-offset", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--table", required=True, metavar="PATH", help="NAS-Bench-201 Parquet table")
    p.add_argument(
        "--source",
        choices=("cifar10", "cifar100", "imagenet16"),
        default=None,
        help="LAPT source task (default: imagenet16 for CIFAR targets, cifar10 for imagenet16)",
    )
    p.add_argument("--fidelity", type=int, choices=(200, 12), default=200, help="epochs searched")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run_nb201)


def register_nad(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from nas.agents.nad_bench import register_nad as _register

    _register(sub)


SUITES = (register_nb201, register_nad)


def _pct(x: float) -> str:
    return f"{x * 100:.2f}"


def run_nb201(args: argparse.Namespace) -> int:
    from launcher.config import ConfigError
    from nas.bench.nb201 import OPTIMUM_DEFINITION, run_bench
    from nas.evaluators.table import TableError, load_table
    from nas.strategies.base import StrategyError

    if args.seeds < 1:
        raise ConfigError(f"--seeds {args.seeds}: give at least 1")
    try:
        table = load_table(args.table)
        if table.arch_kind != "nb201":
            raise ConfigError(f"--table {args.table}: not a NAS-Bench-201 table")

        def progress(msg: str) -> None:
            if not args.quiet:
                print(f"[bench] {msg}", file=sys.stderr, flush=True)

        results = run_bench(
            table,
            args.strategy,
            args.dataset,
            args.budget,
            range(args.seed_offset, args.seed_offset + args.seeds),
            fidelity=args.fidelity,
            source=args.source,
            progress=progress,
        )
    except (TableError, StrategyError) as e:
        raise ConfigError(str(e)) from None
    if args.json:
        doc: dict[str, Any] = {"results": [r.to_dict() for r in results]}
        print(json.dumps(doc, indent=1))
        return 0
    for r in results:
        st = r.stats()
        src = f", source={r.source}" if r.source else ""
        print(
            f"\n{r.strategy} on {r.dataset}, budget {r.budget}, fidelity {r.fidelity}{src}"
            f" (optimum: {OPTIMUM_DEFINITION}; test {_pct(r.optimum_test_acc)}%)"
        )
        print(f"{'seed':>4}  {'val%':>6}  {'test%':>6}  {'evals':>5}  {'to_opt':>6}  arch")
        for s in r.seeds:
            opt = "-" if s.evals_to_optimum is None else str(s.evals_to_optimum)
            print(
                f"{s.seed:>4}  {_pct(s.val_acc):>6}  {_pct(s.test_acc):>6}  {s.evaluations:>5}"
                f"  {opt:>6}  {s.arch}"
            )
        e2o = st["evals_to_optimum_mean"]
        print(
            f"mean ± std: test {_pct(st['test_acc_mean'])} ± {_pct(st['test_acc_std'])}%, "
            f"val {_pct(st['val_acc_mean'])} ± {_pct(st['val_acc_std'])}%; optimum reached in "
            f"{st['optimum_reached']}/{len(r.seeds)} seeds"
            + (f" (mean {e2o:.1f} evals)" if e2o is not None else "")
            + f"; simulated {st['gpu_hours_mean']:.1f} GPU-h per seed"
        )
    return 0
