"""NAS-Bench-201 Table 5 as its authors ran it (issue 25): ``--protocol paper-c10``.

    .venv/bin/python bench/bench_nb201_c10.py --table ../shared/data/nb201.parquet \\
        --seeds 500 --out bench/results

RS and REA search CIFAR-10 (12-epoch cifar10-valid validation; duplicates and isomorphs
proposed and counted; REA population 10, tournament 3) until 12,000 s of *recorded* training
time are spent (``cifar10_valid_train_s_per_epoch`` x 12 per query; the query that crosses
the budget counts, as in NB201's code). The validation-selected cell's 200-epoch test
accuracy is read on CIFAR-10, CIFAR-100 and ImageNet16-120 — one search per seed, reported
three times (what ``archlab bench nb201 --protocol paper-c10 --dataset D`` gives for each D).
Writes ``nb201_c10.json`` and ``nb201_c10.md``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from launcher.build import bench_strategy  # noqa: E402
from nas.bench.nb201 import run_bench  # noqa: E402
from nas.bench.protocol import PUBLISHED, get_protocol  # noqa: E402
from nas.evaluators.table import NB201_DATASETS, TableEvaluator, load_table  # noqa: E402

NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet16-120"}
LABEL = {"rea": "REA", "random": "RS"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", required=True)
    ap.add_argument("--seeds", type=int, default=500)
    ap.add_argument("--time-budget", type=float, default=12_000.0)
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--machine", default="")
    args = ap.parse_args(argv)
    table = load_table(args.table)
    proto = get_protocol("paper-c10")
    report = {d: TableEvaluator(table, d, 200) for d in NB201_DATASETS}
    rows: list[dict[str, Any]] = []
    t0 = time.monotonic()
    for strategy in ("rea", "random"):
        [res] = run_bench(table, strategy, "cifar10", [5000], range(args.seeds), protocol=proto,
                          time_budgets=[args.time_budget], make=bench_strategy)[1:]  # fmt: skip
        evals = [s.evaluations for s in res.seeds]
        gpu = [s.gpu_seconds for s in res.seeds]
        row: dict[str, Any] = {"strategy": strategy, "seeds": len(res.seeds),
                               "evaluations_mean": float(np.mean(evals)),
                               "evaluations_min": int(min(evals)), "evaluations_max": int(max(evals)),
                               "distinct_mean": float(np.mean([s.distinct for s in res.seeds])),
                               "gpu_seconds_mean": float(np.mean(gpu)),
                               "archs": [s.arch for s in res.seeds]}  # fmt: skip
        for d, ev in report.items():
            acc = np.array([ev.test_acc(s.arch) for s in res.seeds]) * 100
            row[d] = {"mean": float(acc.mean()), "std": float(acc.std(ddof=1))}
        rows.append(row)
        print(f"{strategy}: " + ", ".join(f"{d} {row[d]['mean']:.2f}" for d in report)
              + f"; {row['evaluations_mean']:.0f} queries", file=sys.stderr, flush=True)  # fmt: skip
    wall = time.monotonic() - t0
    cmd = "python bench/bench_nb201_c10.py " + " ".join(
        shlex.quote(a) for a in (argv or sys.argv[1:])
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"command": cmd, "machine": args.machine, "wall_s": wall,
           "protocol": proto.description, "results": rows}  # fmt: skip
    (out / "nb201_c10.json").write_text(json.dumps(doc, indent=1))
    (out / "nb201_c10.md").write_text(_markdown(rows, cmd, args.machine, wall, proto.description))
    return 0


def _markdown(rows: list[dict[str, Any]], cmd: str, machine: str, wall: float, desc: str) -> str:
    pub = {v["key"]: v for v in PUBLISHED.values()}
    lines = [
        "# NAS-Bench-201 Table 5 as run by its authors (protocol `paper-c10`, issue 25)",
        "",
        f"Machine: {machine}. Wall time: {wall:.0f} s. Command: `{cmd}`",
        "",
        f"Protocol: {desc}.",
        "",
        "| method | queries (mean, min-max) | CIFAR-10 ours / published | CIFAR-100 | ImageNet16-120 |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        p = pub[r["strategy"]]
        cells = [f"{r[d]['mean']:.2f} ± {r[d]['std']:.2f} / {p[d]:.2f} "
                 f"({r[d]['mean'] - p[d]:+.2f})" for d in NB201_DATASETS]  # fmt: skip
        lines.append(f"| {LABEL[r['strategy']]} @12,000 s | {r['evaluations_mean']:.0f} "
                     f"({r['evaluations_min']}-{r['evaluations_max']}) | " + " | ".join(cells) + " |")  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
