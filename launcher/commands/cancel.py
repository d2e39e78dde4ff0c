"""``archlab cancel RUN``: stop a run's controller and its array tasks."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "run_cancel"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "cancel",
        help="stop a run: its controller and every task it submitted",
        description=(
            "Writes RUN/CANCEL (the controller cancels its in-flight tasks and exits), then "
            "scancels the controller job and the journal's array jobs (Slurm) or terminates "
            "the controller and its task processes (local). `archlab resume` undoes it."
        ),
    )
    p.add_argument("run", metavar="RUN")
    p.add_argument("--runs-root", default="runs", help="where run directories live (default: runs)")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a clean stop")
    p.set_defaults(func=run_cancel)


def run_cancel(args: argparse.Namespace) -> int:
    from launcher.run import cancel_run, find_run
    from nas.controller.journal import writable_problem

    paths = find_run(args.run, args.runs_root)
    problem = writable_problem(paths.run_dir / "journal.jsonl")  # [issue 18] one line
    if problem:
        print(f"archlab cancel: {problem}", file=sys.stderr)
        return 2
    for line in cancel_run(paths, wait_s=args.wait):
        print(f"archlab cancel: {line}")
    return 0
