"""``archlab report RUN [--compare RUN2 ...] [-o DIR]``: a self-contained HTML report.

archlab report demo-20260101-120000-ab12cd            # -> runs/<id>/report/index.html
archlab report runs/nader-a --compare runs/rea-b runs/random-c -o /tmp/cmp
"""

from __future__ import annotations

import argparse

__all__ = ["register", "run_report"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="write an interactive HTML report (best so far, Pareto front, candidates, ...)",
        description=(
            "One self-contained, interactive HTML page (plotly.js embedded: opens offline; "
            "hover, zoom, pan): best-so-far, accuracy vs params/FLOPs with the Pareto front, "
            "the top designs' blocks and learning curves, a sortable, filterable table of every "
            "candidate, and per method the modification tree (NADER), the archives per "
            "iteration (LLMatic) or the principle history (LAPT); failures, LLM cost and the "
            "run's config. --compare overlays other runs and warns when their datasets or "
            "metrics differ. RUN is a run id under --runs-root or a run directory."
        ),
        epilog=__doc__.split("\n\n")[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", metavar="RUN", help="run id (under --runs-root) or run directory")
    p.add_argument(
        "--compare", nargs="+", default=[], metavar="RUN2", help="other runs to compare with"
    )
    p.add_argument(
        "-o", "--output", default="", metavar="DIR", help="output directory (default: RUN/report)"
    )
    p.add_argument("--runs-root", default="runs", help="where run directories live (default: runs)")
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    import sys

    from analysis.report import build_report
    from launcher.build import open_run_source
    from launcher.run import find_run

    paths = find_run(args.run, args.runs_root)
    src = open_run_source(paths.run_dir, paths.run_id)
    others = []
    for r in args.compare:
        q = find_run(r, args.runs_root)
        others.append(open_run_source(q.run_dir, q.run_id))
    res = build_report(src, others, args.output or None)
    print(f"archlab report: {res.index} ({len(res.figures)} plots, {res.seconds:.1f} s)")
    for w in res.warnings:
        print(f"  warning: {w}", file=sys.stderr)
    if res.empty_sections:
        print(f"  sections without data in this run: {', '.join(res.empty_sections)}")
    return 0
