"""The full NAS-Bench-201 benchmark: 4 strategies x 3 datasets x budgets x seeds.

    .venv/bin/python bench/bench_nb201.py --table ../shared/data/nb201.parquet \\
        --seeds 20 --budgets 10,20,50,100,500 --out bench/results

Writes ``nb201.json`` (every seed) and ``nb201.md`` (tables) under ``--out``. Each
(strategy, dataset) pair is one process (``--jobs``); budgets are prefixes of one run per
seed (strategies are budget-agnostic), so the cost is that of the largest budget.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nas.bench.nb201 import DEFAULT_SOURCE, OPTIMUM_DEFINITION, PUBLISHED, STRATEGIES  # noqa: E402

DATASETS = ("cifar10", "cifar100", "imagenet16")
NOTES_MARKER = "<!-- notes: hand-written, kept when the tables are regenerated -->"
NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet16-120"}


def _job(args: tuple[str, str, str, list[int], int, int]) -> list[dict[str, Any]]:
    from nas.bench.nb201 import run_bench
    from nas.evaluators.table import load_table

    table_path, strategy, dataset, budgets, seeds, fidelity = args
    t0 = time.monotonic()
    table = load_table(table_path)
    results = run_bench(table, strategy, dataset, budgets, range(seeds), fidelity=fidelity)
    out = [r.to_dict() for r in results]
    for d in out:
        d["seconds"] = time.monotonic() - t0
    print(f"  done {strategy:>8} / {dataset:<10} in {time.monotonic() - t0:5.1f} s", flush=True)
    return out


def _cell(d: dict[str, Any]) -> str:
    return f"{d['test_acc_mean'] * 100:.2f} ± {d['test_acc_std'] * 100:.2f}"


def render(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    by = {(d["strategy"], d["dataset"], d["budget"]): d for d in results}
    budgets = sorted({d["budget"] for d in results})
    lines = [
        "# NAS-Bench-201: random, REA, LAPT, LLMatic (offline)",
        "",
        f"Measured {meta['date']} on {meta['machine']}; {meta['seeds']} seeds (0..{meta['seeds'] - 1}), "
        f"search on {meta['fidelity']}-epoch validation accuracy, chosen cell reported with its "
        f"200-epoch test accuracy (%, mean ± std over seeds). Wall time: {meta['wall_s']:.0f} s.",
        "",
        f"Command: `{meta['command']}`",
        "",
        "LAPT uses the offline statistical principle learner with source = ImageNet16-120 for "
        "the CIFAR targets and CIFAR-10 for ImageNet16-120; LLMatic uses the rule-based "
        "operators (no LLM). Optimum = " + OPTIMUM_DEFINITION + ".",
        "",
        "## Test accuracy of the chosen cell",
        "",
    ]
    for ds in DATASETS:
        lines += [f"### {NAMES[ds]}", "", "| strategy | " + " | ".join(f"{b} evals" for b in budgets) + " |",
                  "|---|" + "---|" * len(budgets)]  # fmt: skip
        for st in STRATEGIES:
            row = [_cell(by[(st, ds, b)]) if (st, ds, b) in by else "" for b in budgets]
            lines.append(f"| {st} | " + " | ".join(row) + " |")
        lines.append("")
    lines += ["## LAPT vs REA at equal budget", "",
              "| dataset | " + " | ".join(f"{b} evals: LAPT / REA" for b in budgets if b <= 50) + " |",
              "|---|" + "---|" * len([b for b in budgets if b <= 50])]  # fmt: skip
    for ds in DATASETS:
        row = []
        for b in (b for b in budgets if b <= 50):
            la, re_ = by.get(("lapt", ds, b)), by.get(("rea", ds, b))
            if la and re_:
                diff = (la["test_acc_mean"] - re_["test_acc_mean"]) * 100
                row.append(f"{_cell(la)} / {_cell(re_)} ({diff:+.2f})")
            else:
                row.append("")
        lines.append(f"| {NAMES[ds]} | " + " | ".join(row) + " |")
    lines.append("")
    lines += ["## Published numbers (test accuracy %, their budgets)", "",
              "| method | evaluations | CIFAR-10 | CIFAR-100 | ImageNet16-120 |", "|---|---|---|---|---|"]  # fmt: skip
    for name, p in PUBLISHED.items():
        lines.append(
            f"| {name} | {p['evaluations'] or '-'} | {p['cifar10']} | {p['cifar100']} | {p['imagenet16']} |"
        )
    lines += ["", "## Reaching the optimum", "",
              "Seeds (of " + str(meta["seeds"]) + ") that evaluated the optimum within the budget, "
              "and the mean number of evaluations until they did (over those seeds).", ""]  # fmt: skip
    for ds in DATASETS:
        lines += [f"### {NAMES[ds]}", "", "| strategy | " + " | ".join(f"{b} evals" for b in budgets) + " |",
                  "|---|" + "---|" * len(budgets)]  # fmt: skip
        for st in STRATEGIES:
            row = []
            for b in budgets:
                d = by.get((st, ds, b))
                if d is None:
                    row.append("")
                    continue
                e = d["evals_to_optimum_mean"]
                row.append(f"{d['optimum_reached']}/{meta['seeds']}" + (f" ({e:.1f})" if e else ""))
            lines.append(f"| {st} | " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--table", required=True)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--budgets", default="10,20,50,100,500")
    ap.add_argument("--fidelity", type=int, default=200, choices=(200, 12))
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    ap.add_argument("--machine", default=f"{platform.machine()} CPU")
    a = ap.parse_args()
    budgets = [int(b) for b in a.budgets.split(",")]
    jobs = [
        (a.table, st, ds, budgets, a.seeds, a.fidelity)
        for st in a.strategies.split(",")
        for ds in DATASETS
    ]
    print(f"{len(jobs)} (strategy, dataset) jobs x {a.seeds} seeds, budgets {budgets}, "
          f"LAPT sources {DEFAULT_SOURCE}", flush=True)  # fmt: skip
    t0 = time.monotonic()
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        results = [d for out in pool.map(_job, jobs) for d in out]
    wall = time.monotonic() - t0
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if a.fidelity == 200 else f"_e{a.fidelity}"
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": a.machine,
        "seeds": a.seeds,
        "fidelity": a.fidelity,
        "wall_s": wall,
        "command": "python " + shlex.join(sys.argv),
    }
    (out / f"nb201{suffix}.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=1)
    )
    md = out / f"nb201{suffix}.md"
    notes = ""  # hand-written analysis below the marker survives regeneration
    if md.exists() and NOTES_MARKER in md.read_text():
        notes = md.read_text().split(NOTES_MARKER, 1)[1]
    md.write_text(render(results, meta) + "\n" + NOTES_MARKER + notes)
    print(f"wrote {out}/nb201{suffix}.md and .json in {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
