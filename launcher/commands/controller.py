"""``archlab controller RUN_DIR``: the loop a controller job runs (fresh start = resume).

What ``archlab launch`` starts, and what a user's own sbatch script calls. USR2 (time limit
near) and TERM make it stop at the next check, leaving in-flight tasks running;
:mod:`nas.controller.signals` decides what follows: USR2, or a TERM after USR2 / with a
pending preemption or requeue, requeues the Slurm job (``scontrol requeue``; the next start
re-attaches or recognises those tasks' results); a bare TERM (``scancel``) or a cancelled
run stops for good with ``cancelled``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from typing import Any

__all__ = ["register", "run_controller"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "controller",
        help="run (or resume) a run's controller loop in the foreground",
        description=(
            "Rebuilds the run from its journal and result store and runs the search to its "
            "budget. Safe to start again after any crash; refuses while another controller "
            "holds the run. With --config, creates the run at RUN_DIR first if it does not "
            "exist (for sbatch scripts that name their run directory)."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory (runs/<run_id>)")
    p.add_argument("--config", help="create the run from this config when RUN_DIR is new")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="with --config only")
    p.add_argument("--quiet", action="store_true", help="log warnings only")
    p.add_argument(
        "--no-requeue", action="store_true", help="never requeue the Slurm job on USR2/TERM"
    )
    p.set_defaults(func=run_controller)


def _requeue_target() -> str:
    arr, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if arr and task:
        return f"{arr}_{task}"
    return os.environ.get("SLURM_JOB_ID", "")


def run_controller(args: argparse.Namespace) -> int:
    from pathlib import Path

    from launcher.build import build_controller
    from launcher.config import ConfigError, load_config
    from launcher.current_run import note_run
    from launcher.run import RunPaths, create_run
    from nas.controller import CANCEL_FILE, JournalBusy
    from nas.controller.journal import JournalReadOnly, writable_problem
    from nas.controller.signals import SignalPolicy

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    run_dir = Path(args.run_dir).resolve()
    if not (run_dir / "manifest.json").is_file():
        if not args.config:
            raise ConfigError(
                f"{run_dir} is not a run directory (no manifest.json); create one with "
                "`archlab launch CONFIG` or pass --config CONFIG to create it here"
            )
        cfg0 = load_config([args.config], args.overrides, check=True)
        create_run(
            cfg0, cluster="slurm" if os.environ.get("SLURM_JOB_ID") else "local", run_dir=run_dir
        )
    paths = RunPaths(run_dir.name, run_dir)
    # [issue 18] a read-only run directory: one line, before anything tries to write there
    problem = writable_problem(run_dir / "journal.jsonl")
    if problem:
        print(f"archlab controller: {problem}", file=sys.stderr)
        return 3
    note_run(paths.run_dir)  # Ctrl-C names the run and its resume command
    cfg = load_config([paths.config])
    controller = build_controller(cfg, paths)
    # [issue 18 hook] nas/controller/signals.py tells a cancel from a requeue
    policy = SignalPolicy.from_env(run_dir / CANCEL_FILE)

    def on_signal(signum: int, frame: Any) -> None:
        decision = policy.on_signal(signum)
        logging.getLogger("archlab.controller").warning(
            "%s: %s (%s)", signal.Signals(signum).name, decision.why, decision.detail
        )
        controller.request_stop(decision.why)

    for sig in (signal.SIGUSR2, signal.SIGTERM):
        signal.signal(sig, on_signal)
    print(f"archlab controller: run {paths.run_id} (pid {os.getpid()})", flush=True)
    t0 = time.monotonic()
    try:
        summary = controller.run()
    except (JournalBusy, JournalReadOnly) as e:
        print(f"archlab controller: {e}", file=sys.stderr)
        return 3
    st = summary.state
    best = st.best()
    print(
        f"archlab controller: stopped ({summary.reason}) after {time.monotonic() - t0:.0f} s: "
        f"{len(st.with_result())}/{cfg.budget.candidates} evaluated, "
        f"best val_acc {float(best[1]['val_acc']) if best else float('nan'):.4f}",
        flush=True,
    )
    from launcher.outcome import no_complete_message

    if failed := no_complete_message(paths, st, summary.reason):
        print(failed, file=sys.stderr, flush=True)
        return 1
    target = _requeue_target()
    if policy.should_requeue(summary.reason) and target and not args.no_requeue:
        import subprocess

        print(f"archlab controller: requeueing Slurm job {target}", flush=True)
        subprocess.run(["scontrol", "requeue", target], check=False)
    return 0
