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
        help="write an HTML report with plots (best so far, Pareto front, tree, archive, LLM cost)",
        description=(
            "One self-contained HTML page (plots embedded, opens offline) plus PNG/SVG files: "
            "best-so-far, accuracy vs params/FLOPs with the Pareto front, learning curves, the "
            "modification tree (NADER), the archive heatmap (LLMatic), the principle history "
            "(LAPT), failures, LLM cost, the leaderboard and the run's config. Sections without "
            "data say so. RUN is a run id under --runs-root or a run directory."
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
    from analysis.report import build_report
    from analysis.source import RunSource
    from launcher.run import find_run

    paths = find_run(args.run, args.runs_root)
    src = RunSource.open(paths.run_dir, paths.run_id)
    others = []
    for r in args.compare:
        q = find_run(r, args.runs_root)
        others.append(RunSource.open(q.run_dir, q.run_id))
    res = build_report(src, others, args.output or None)
    print(f"archlab report: {res.index} ({len(res.plots)} plots, {res.seconds:.1f} s)")
    if res.empty_sections:
        print(f"  sections without data in this run: {', '.join(res.empty_sections)}")
    return 0
