"""``archlab status RUN``: states, best so far, GPU-hours, LLM spend, ETA (live on a terminal)."""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["register", "run_status"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "status",
        help="show a run's progress (a live view when attached to a terminal)",
        description="Reads the run's journal; RUN is a run id under --runs-root or a run directory.",
    )
    p.add_argument("run", metavar="RUN")
    p.add_argument("--runs-root", default="runs", help="where run directories live (default: runs)")
    p.add_argument("--once", action="store_true", help="print once, even on a terminal")
    p.add_argument("--interval", type=float, default=2.0, help="live view refresh, seconds")
    p.set_defaults(func=run_status)


def status_text(paths: object, with_controller: bool = True) -> tuple[str, bool]:
    from launcher.config import load_config
    from launcher.run import RunPaths, controller_info, controller_state
    from nas.controller.progress import progress

    assert isinstance(paths, RunPaths)
    cfg = load_config([paths.config])
    p = progress(paths.run_dir, cfg.budget.candidates, cfg.executor.max_in_flight)
    info = controller_info(paths)
    ctl = controller_state(paths) if with_controller else "?"
    where = info.get("cluster", "?")
    if info.get("job_id"):
        where = f"{where} job {info['job_id']}"
    elif info.get("pid"):
        where = f"{where} pid {info['pid']}"
    cancelled = (paths.run_dir / "CANCEL").exists()
    if p.stop:
        verdict = f"stopped ({p.stop})"
    elif ctl == "not running":
        verdict = "cancelled" if cancelled else "not running (crashed or killed: `archlab resume`)"
    else:
        verdict = ctl
    lines = [
        f"run:        {paths.run_id}  [{cfg.strategy.name} on {cfg.train.dataset}]",
        f"controller: {verdict}  ({where})",
        *p.lines(),
        f"            {p.bar()}",
    ]
    return "\n".join(lines), bool(p.stop) or ctl == "not running"


def run_status(args: argparse.Namespace) -> int:
    from launcher.run import find_run

    paths = find_run(args.run, args.runs_root)
    live = sys.stdout.isatty() and not args.once
    if not live:
        print(status_text(paths)[0])
        return 0
    try:
        while True:
            text, over = status_text(paths)
            sys.stdout.write("\x1b[H\x1b[2J" + text + "\n(Ctrl-C to leave; the run goes on)\n")
            sys.stdout.flush()
            if over:
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
