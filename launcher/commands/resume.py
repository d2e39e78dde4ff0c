"""``archlab resume RUN``: start a stopped or crashed run's controller again."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

__all__ = ["register", "run_resume"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "resume",
        help="start the controller of an existing run again (after a crash, cancel or stop)",
        description=(
            "The controller rebuilds everything from the journal and the store; in-flight "
            "tasks are re-attached or their results recognised, never trained twice. "
            "A cancelled run is un-cancelled. --cluster defaults to the run's manifest."
        ),
    )
    p.add_argument("run", metavar="RUN")
    p.add_argument("--runs-root", default="runs", help="where run directories live (default: runs)")
    p.add_argument("--cluster", choices=("slurm", "local", "inprocess"))
    p.add_argument(
        "budget_overrides",
        nargs="*",
        metavar="budget.KEY=VALUE",
        help="raise a budget, e.g. budget.candidates=800 (only budget.* may change)",
    )
    p.set_defaults(func=run_resume)


def _stopped(paths: Any) -> bool:
    from nas.controller import read_events

    events = read_events(paths.run_dir / "journal.jsonl")
    return bool(events) and events[-1].get("ev") == "stop"


def run_resume(args: argparse.Namespace) -> int:
    import json

    from launcher.config import ConfigError, load_config, save_config
    from launcher.run import (
        controller_state,
        find_run,
        record_inprocess_controller,
        start_controller,
    )
    from nas.controller import CANCEL_FILE
    from nas.controller.journal import check_journal, writable_problem

    paths = find_run(args.run, args.runs_root)
    # [issue 18] refuse before submitting anything: a run directory that cannot be written,
    # or a journal damaged in the middle (the message says how to recover)
    journal = paths.run_dir / "journal.jsonl"
    problem = writable_problem(journal) or check_journal(journal)
    if problem:
        print(f"archlab resume: {problem}", file=sys.stderr)
        return 2
    state = controller_state(paths)
    if state == "running" and _stopped(paths):
        # the controller has journaled its stop and is exiting (closing files, releasing the
        # lock): give it a moment instead of refusing
        deadline = time.monotonic() + 60
        while state == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
            state = controller_state(paths)
    if state != "not running":
        raise ConfigError(
            f"run {paths.run_id} already has a controller ({state}); see archlab status"
        )
    bad = [o for o in args.budget_overrides if not o.startswith("budget.")]
    if bad:
        raise ConfigError(f"resume may change budget.* only, not {', '.join(bad)}")
    cfg = load_config([paths.config], args.budget_overrides)
    if args.budget_overrides:
        save_config(cfg, paths.config)
    manifest = json.loads(paths.manifest.read_text())
    cluster = args.cluster or str(manifest.get("cluster") or cfg.executor.kind)
    (paths.run_dir / CANCEL_FILE).unlink(missing_ok=True)
    if cluster == "inprocess":
        from launcher.commands.controller import run_controller

        record_inprocess_controller(paths)
        return run_controller(
            argparse.Namespace(
                run_dir=str(paths.run_dir), config=None, overrides=[], quiet=False, no_requeue=True
            )
        )
    info = start_controller(cfg, paths, cluster)
    where = f"Slurm job {info['job_id']}" if cluster == "slurm" else f"local process {info['pid']}"
    print(f"resumed:  {paths.run_id} as {where}; log {info['log']}")
    return 0
