"""ASHA on the NB201 table (issue 25): REA and LLMatic with and without ``fidelity.kind=asha``.

    .venv/bin/python bench/bench_fidelity.py --table ../shared/data/nb201.parquet \\
        --seeds 20 --budgets 100,500 --etas 3,4,8 --out bench/results

Per (strategy, dataset, schedule): 20 seeds, the archlab protocol (search on the 200-epoch
validation accuracy, isomorphs never re-proposed), budget = proposals. ``none`` trains every
proposal 200 epochs; ``asha eta=N`` looks every proposal up at 12 epochs and resumes the top
1/N of those that reached 12 (Optuna's asynchronous rule, decided at arrival) to 200, charged
188 more epochs. GPU-seconds are the table's recorded training seconds per epoch
(NATS-Bench, evaluation excluded) times the epochs each rung trained. The selected cell is
the best full-fidelity validation accuracy; its 200-epoch test accuracy is reported.
LLMatic runs with its rule-based (offline) operators: no LLM. Writes ``fidelity.json`` and
``fidelity.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from launcher.build import bench_strategy  # noqa: E402
from nas.bench.nb201 import run_bench  # noqa: E402
from nas.bench.protocol import get_protocol, strategy_options  # noqa: E402
from nas.controller.fidelity import FidelityConfig  # noqa: E402
from nas.evaluators.table import load_table  # noqa: E402

NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet16-120"}


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", required=True)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--budgets", type=_ints, default=[100, 500])
    ap.add_argument("--etas", type=_ints, default=[3, 4, 8])
    ap.add_argument("--strategies", default="rea,llmatic")
    ap.add_argument("--datasets", default="cifar10,cifar100,imagenet16")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--machine", default=platform.node())
    args = ap.parse_args(argv)
    table = load_table(args.table)
    proto = get_protocol("archlab")
    rows: list[dict[str, Any]] = []
    t0 = time.monotonic()
    for strategy in args.strategies.split(","):
        opts = strategy_options(strategy, proto)
        for dataset in args.datasets.split(","):
            for eta in [0, *args.etas]:
                sch = FidelityConfig("asha", 12, 200, eta) if eta else None
                for r in run_bench(table, strategy, dataset, args.budgets, range(args.seeds),
                                   options=opts, protocol=proto, make=bench_strategy,
                                   schedule=sch, time_model="recorded"):  # fmt: skip
                    d = r.to_dict()
                    d["schedule_label"] = f"asha eta={eta}" if eta else "none"
                    rows.append(d)
                    print(f"{strategy} {dataset} {d['schedule_label']} budget {r.budget}: "
                          f"test {d['test_acc_mean'] * 100:.2f} GPU-s "
                          f"{d['gpu_seconds_mean']:.0f}", file=sys.stderr, flush=True)  # fmt: skip
    wall = time.monotonic() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cmd = "python bench/bench_fidelity.py " + " ".join(
        shlex.quote(a) for a in (argv or sys.argv[1:])
    )
    (out / "fidelity.json").write_text(json.dumps(
        {"command": cmd, "machine": args.machine, "wall_s": wall, "results": rows}, indent=1))  # fmt: skip
    (out / "fidelity.md").write_text(_markdown(rows, cmd, args.machine, wall, args.seeds))
    return 0


def _markdown(rows: list[dict[str, Any]], cmd: str, machine: str, wall: float, seeds: int) -> str:
    lines = [
        "# NB201 table: REA and LLMatic with and without ASHA (issue 25)",
        "",
        f"Machine: {machine}. Wall time: {wall:.0f} s. Command: `{cmd}`",
        "",
        f"archlab protocol, {seeds} seeds, budget = proposals; GPU-seconds = NATS-Bench's "
        "recorded training seconds per epoch x epochs trained (evaluation excluded), mean "
        "per seed; `ratio` = GPU-seconds / those of `none` at the same budget; `dtest` = "
        "test accuracy minus that of `none`. ASHA: 12-epoch rung, top 1/eta of the results "
        "that reached it so far resume to 200 epochs (charged 188 more epochs); the strategy "
        "is told full-fidelity results, a stopped proposal as PRUNED without metrics. "
        "LLMatic: rule-based operators, no LLM.",
        "",
        "| strategy | dataset | schedule | budget | test % (mean ± std) | dtest | GPU-s | ratio | pruned |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    base = {(r["strategy"], r["dataset"], r["budget"]): r for r in rows
            if r["schedule_label"] == "none"}  # fmt: skip
    for r in rows:
        b = base[(r["strategy"], r["dataset"], r["budget"])]
        lines.append(
            f"| {r['strategy']} | {NAMES[r['dataset']]} | {r['schedule_label']} | {r['budget']} "
            f"| {r['test_acc_mean'] * 100:.2f} ± {r['test_acc_std'] * 100:.2f} "
            f"| {(r['test_acc_mean'] - b['test_acc_mean']) * 100:+.2f} "
            f"| {r['gpu_seconds_mean']:.0f} | {r['gpu_seconds_mean'] / b['gpu_seconds_mean']:.2f} "
            f"| {r['pruned_mean']:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
