"""The full NAS-Bench-201 benchmark: 4 strategies x 3 datasets x budgets x seeds, in both
protocols (``archlab`` and the NB201 paper's), plus LAPT with the paper's preset.

    .venv/bin/python bench/bench_nb201.py --table ../shared/data/nb201.parquet \\
        --seeds 20 --paper-seeds 100 --budgets 10,20,50,100,500 --out bench/results

Writes ``nb201.json`` (every seed) and ``nb201.md`` (tables) under ``--out``. Each
(protocol, strategy, dataset) triple is one process (``--jobs``); budgets are prefixes of
one run per seed (strategies are budget-agnostic), so the cost is that of the largest
budget. Hand-written notes below the marker in ``nb201.md`` survive regeneration.
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

from nas.bench.nb201 import BEST_VAL_DEFINITION, DEFAULT_SOURCE, OPTIMUM_DEFINITION  # noqa: E402
from nas.bench.protocol import PROTOCOLS, PUBLISHED, PUBLISHED_SOURCE  # noqa: E402

DATASETS = ("cifar10", "cifar100", "imagenet16")
STRATEGIES = ("random", "rea", "lapt", "lapt-paper", "llmatic")  # lapt-paper: --preset paper
NOTES_MARKER = "<!-- notes: hand-written, kept when the tables are regenerated -->"
NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet16-120"}

Job = tuple[str, str, str, str, list[int], list[float], int]


def _job(job: Job) -> list[dict[str, Any]]:
    from launcher.build import bench_strategy
    from nas.bench.nb201 import run_bench
    from nas.bench.protocol import get_protocol, strategy_options
    from nas.evaluators.table import load_table

    table_path, protocol, label, dataset, budgets, times, seeds = job
    t0 = time.monotonic()
    strategy, preset = ("lapt", "paper") if label == "lapt-paper" else (label, None)
    proto = get_protocol(protocol)
    opts = strategy_options(strategy, proto, preset)
    results = run_bench(
        load_table(table_path),
        strategy,
        dataset,
        budgets,
        range(seeds),
        options=opts,
        protocol=proto,
        time_budgets=times,
        make=bench_strategy,
    )
    out = [r.to_dict() for r in results]
    for d in out:
        d["label"] = label
        d["seconds"] = time.monotonic() - t0
    print(f"  done {protocol:>7} {label:>10} / {dataset:<10} in {time.monotonic() - t0:5.1f} s",
          flush=True)  # fmt: skip
    return out


def compact(d: dict[str, Any]) -> dict[str, Any]:
    """A result with its per-seed records as rows under one ``seed_fields`` header."""
    seeds = d.get("seeds") or []
    if not seeds or not isinstance(seeds[0], dict):
        return d
    fields = list(seeds[0])
    return {**d, "seed_fields": fields, "seeds": [[s[f] for f in fields] for s in seeds]}


def _acc(d: dict[str, Any]) -> str:
    return f"{d['test_acc_mean'] * 100:.2f} ± {d['test_acc_std'] * 100:.2f}"


def _bv(d: dict[str, Any], seeds: int) -> str:
    return f"{d['evals_to_best_val_mean']:.1f} ({d['best_val_reached']}/{seeds})"


def _opt(d: dict[str, Any], seeds: int) -> str:
    e = d["evals_to_test_optimum_mean_reached"]
    return f"{d['test_optimum_reached']}/{seeds}" + (f" ({e:.1f})" if e is not None else "")


def _grid(
    by: dict[tuple[str, str, int, float | None], dict[str, Any]],
    labels: tuple[str, ...],
    budgets: list[int],
    cell: Any,
    time_budget: float | None = None,
) -> list[str]:
    lines: list[str] = []
    cols = [f"{b} evals" for b in budgets] + ([f"{time_budget:g} s"] if time_budget else [])
    for ds in DATASETS:
        lines += [f"### {NAMES[ds]}", "", "| strategy | " + " | ".join(cols) + " |",
                  "|---|" + "---|" * len(cols)]  # fmt: skip
        for st in labels:
            keys = [(st, ds, b, None) for b in budgets]
            if time_budget:
                keys.append((st, ds, max(budgets), time_budget))
            row = [cell(by[k]) if k in by else "" for k in keys]
            lines.append(f"| {st} | " + " | ".join(row) + " |")
        lines.append("")
    return lines


def render(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    arch = {(d["label"], d["dataset"], d["budget"], d["time_budget_s"]): d
            for d in results if d["protocol"] == "archlab"}  # fmt: skip
    paper = {(d["label"], d["dataset"], d["budget"], d["time_budget_s"]): d
             for d in results if d["protocol"] == "paper"}  # fmt: skip
    budgets = sorted({d["budget"] for d in results if d["protocol"] == "archlab"})
    pbudgets = sorted({d["budget"] for d in results if d["protocol"] == "paper"})
    tb = meta["time_budget"]
    s, ps = meta["seeds"], meta["paper_seeds"]
    labels = tuple(x for x in STRATEGIES if any(k[0] == x for k in arch))
    plabels = tuple(x for x in STRATEGIES if any(k[0] == x for k in paper))
    lines = [
        "# NAS-Bench-201: random, REA, LAPT, LLMatic (offline), two protocols",
        "",
        f"Measured {meta['date']} on {meta['machine']}. Wall time: {meta['wall_s']:.0f} s.",
        "",
        f"Command: `{meta['command']}`",
        "",
        "* **archlab protocol** — " + PROTOCOLS["archlab"].description + f"; {s} seeds.",
        "* **paper protocol** — " + PROTOCOLS["paper"].description + f"; {ps} seeds.",
        "",
        "LAPT uses the offline statistical principle learner with source = ImageNet16-120 for "
        "the CIFAR targets and CIFAR-10 for ImageNet16-120 (its settings were chosen on the "
        "pair CIFAR-10 → CIFAR-100 only); `lapt` = default search settings (population 10, "
        "tournament 3, adaptation every 10), `lapt-paper` = `--preset paper` (population 5, "
        "tournament 2, adaptation every 3). LLMatic uses the rule-based operators (no LLM).",
        "",
        "* **Best-validation cell** (LAPT's efficiency metric): " + BEST_VAL_DEFINITION + ".",
        "* **Test optimum**: " + OPTIMUM_DEFINITION + ".",
        "",
        "## archlab protocol",
        "",
        "### Evaluations until the best-validation cell",
        "",
        f"Mean over all {s} seeds (a miss counts at the budget), and in brackets the seeds "
        "that reached it.",
        "",
        *_grid(arch, labels, budgets, lambda d: _bv(d, s)),
        "### Test accuracy of the validation-selected cell (%)",
        "",
        *_grid(arch, labels, budgets, _acc),
        "### Test optimum reached",
        "",
        "Seeds that evaluated the test optimum, and in brackets their mean evaluations to it "
        "(over those seeds only).",
        "",
        *_grid(arch, labels, budgets, lambda d: _opt(d, s)),
        "## paper protocol",
        "",
        f"Test accuracy (%) of the validation-selected cell after {', '.join(map(str, pbudgets))}"
        f" evaluations and after {tb:g} simulated seconds (the NB201 paper's budget), and the "
        "published figures. Duplicates count as evaluations.",
        "",
        *_grid(paper, plabels, pbudgets, _acc, tb),
        "### Against the published REA and random search",
        "",
        f"Published: {PUBLISHED_SOURCE}. Ours at {tb:g} s and at 100 evaluations; difference "
        "ours − published in points (target: within ±0.3).",
        "",
        "| method | dataset | published | ours @ " + f"{tb:g} s (evals)" + " | diff | ours @ 100 "
        "evals | diff |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, pub in PUBLISHED.items():
        if pub["key"] not in ("rea", "random"):
            continue
        for ds in DATASETS:
            t = paper.get((pub["key"], ds, max(pbudgets), tb))
            e = paper.get((pub["key"], ds, 100, None))
            if t is None or e is None:
                continue
            dt = t["test_acc_mean"] * 100 - pub[ds]
            de = e["test_acc_mean"] * 100 - pub[ds]
            lines.append(
                f"| {name} | {NAMES[ds]} | {pub[ds]:.2f} | {_acc(t)} ({t['evaluations_mean']:.0f})"
                f" | {dt:+.2f} | {_acc(e)} | {de:+.2f} |"
            )
    lines += ["", "### Evaluations until the (12-epoch) best-validation cell, paper protocol", "",
              *_grid(paper, plabels, pbudgets, lambda d: _bv(d, ps), tb)]  # fmt: skip
    lines += ["## Published numbers", "", "| method | budget | CIFAR-10 | CIFAR-100 | ImageNet16-120 |",
              "|---|---|---|---|---|"]  # fmt: skip
    for name, p in PUBLISHED.items():
        lines.append(
            f"| {name} | {p['budget']} | {p['cifar10']} | {p['cifar100']} | {p['imagenet16']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--table", required=True)
    ap.add_argument("--seeds", type=int, default=20, help="seeds of the archlab protocol")
    ap.add_argument("--paper-seeds", type=int, default=100, help="seeds of the paper protocol")
    ap.add_argument("--budgets", default="10,20,50,100,500")
    ap.add_argument("--paper-budgets", default="100,500")
    ap.add_argument("--time-budget", type=float, default=12_000.0)
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    ap.add_argument("--machine", default=f"{platform.machine()} CPU")
    a = ap.parse_args()
    budgets = [int(b) for b in a.budgets.split(",")]
    pbudgets = [int(b) for b in a.paper_budgets.split(",")]
    labels = a.strategies.split(",")
    jobs: list[Job] = [(a.table, "archlab", st, ds, budgets, [], a.seeds)
                       for st in labels for ds in DATASETS]  # fmt: skip
    jobs += [(a.table, "paper", st, ds, pbudgets, [a.time_budget], a.paper_seeds)
             for st in labels for ds in DATASETS]  # fmt: skip
    print(f"{len(jobs)} jobs, budgets {budgets} / paper {pbudgets} + {a.time_budget:g} s, "
          f"LAPT sources {DEFAULT_SOURCE}", flush=True)  # fmt: skip
    t0 = time.monotonic()
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        results = [d for out in pool.map(_job, jobs) for d in out]
    wall = time.monotonic() - t0
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": a.machine,
        "seeds": a.seeds,
        "paper_seeds": a.paper_seeds,
        "time_budget": a.time_budget,
        "wall_s": wall,
        "command": "python " + shlex.join(sys.argv),
    }
    doc = {"meta": meta, "results": [compact(d) for d in results]}
    (out / "nb201.json").write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    md = out / "nb201.md"
    notes = ""  # hand-written analysis below the marker survives regeneration
    if md.exists() and NOTES_MARKER in md.read_text():
        notes = md.read_text().split(NOTES_MARKER, 1)[1]
    md.write_text(render(results, meta) + "\n" + NOTES_MARKER + notes)
    print(f"wrote {out}/nb201.md and .json in {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
