"""``archlab best RUN [--export DIR] [--candidate ID]``: the best architecture of a run.

archlab best demo-20260101-120000-ab12cd                  # print the best candidate
archlab best demo-20260101-120000-ab12cd --export best/   # block text, model.py, weights, card
"""

from __future__ import annotations

import argparse

__all__ = ["register", "run_best"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "best",
        help="show or export the best architecture (block text, PyTorch source, weights, card)",
        description=(
            "The best complete candidate by validation accuracy (for table runs, its test "
            "accuracy is looked up in the table after this selection). --export DIR writes arch.txt "
            "(block text), arch.json, model.py (readable PyTorch source defining Network()), "
            "weights.pt when the run kept the trained weights, model_card.md and metrics.json."
        ),
        epilog=__doc__.split("\n\n")[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", metavar="RUN", help="run id (under --runs-root) or run directory")
    p.add_argument("--export", default="", metavar="DIR", help="write the export into DIR")
    p.add_argument(
        "--candidate", default="", metavar="ID", help="export this candidate (an id prefix) instead"
    )
    p.add_argument("--runs-root", default="runs", help="where run directories live (default: runs)")
    p.add_argument(
        "--no-check", action="store_true", help="do not build model.py to check its parameters"
    )
    p.set_defaults(func=run_best)


def run_best(args: argparse.Namespace) -> int:
    import sys

    from analysis.export import ExportError, export_best
    from analysis.queries import fetch
    from launcher.build import open_run_source
    from launcher.config import ConfigError
    from launcher.run import find_run

    paths = find_run(args.run, args.runs_root)
    src = open_run_source(paths.run_dir, paths.run_id)
    if not args.export:
        con = src.connect()
        try:
            rows = [r for r in fetch(con, "leaderboard") if r["state"] == "COMPLETE"]
        finally:
            con.close()
        if args.candidate:
            rows = [r for r in rows if r["candidate_id"].startswith(args.candidate)]
        if not rows:
            raise ConfigError(f"run {paths.run_id} has no complete candidate to show")
        r = rows[0]
        test, note = r["test_acc"], ""
        if test is None:
            from analysis.selection import SELECTION_NOTE, test_after_selection

            test = test_after_selection(src.facts, str(r["arch"] or ""))
            note = f" ({SELECTION_NOTE})" if test is not None else " (not measured)"
        test_text = "-" if test is None else f"{float(test):.4f}"
        print(f"best of {paths.run_id}: {r['candidate_id']} ({r['strategy']}/{r['agent']})")
        print(
            f"  val_acc {r['val_acc']}  test_acc {test_text}{note}  params {r['params']}  "
            f"flops {r['flops']}"
        )
        print(f"  {r['arch_kind']}: {r['arch']}")
        print(f"Export it: archlab best {paths.run_id} --export DIR")
        return 0
    try:
        res = export_best(
            src, args.export, candidate_id=args.candidate or None, check=not args.no_check
        )
    except ExportError as e:
        raise ConfigError(str(e)) from None
    print(f"archlab best: exported {res.candidate_id} of {paths.run_id} -> {res.out_dir}")
    for f in res.files:
        print(f"  {f.name}")
    checked = "" if res.params_model is None else f", model.py builds {res.params_model:,}"
    print(f"  parameters: record {res.params_record:,}{checked}")
    if res.weights is None:
        print("  weights: not kept by this run (see model_card.md)")
    for n in res.notes:
        print(f"  note: {n}", file=sys.stderr)
    return 0
