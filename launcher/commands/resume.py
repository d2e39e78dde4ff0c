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
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="change the config, e.g. budget.candidates=800 or space.table=PATH; keys whose "
        "change would invalidate stored results (the recipe, the space, the strategy, the "
        "seed, the store) are refused once candidates exist, with the reason",
    )
    p.set_defaults(func=run_resume)


def _stopped(paths: Any) -> bool:
    from nas.controller import read_events

    events = read_events(paths.run_dir / "journal.jsonl")
    return bool(events) and events[-1].get("ev") == "stop"


def _allowed_overrides(paths: Any, overrides: list[str]) -> list[str]:
    """``overrides`` when every key may change on this run; else a ConfigError naming each
    refused key and why (see :mod:`launcher.config.resume_keys`)."""
    from launcher.config import ConfigError
    from launcher.config.resume_keys import refusal
    from nas.controller import read_events
    from nas.controller.state import fold

    has_candidates = bool(fold(read_events(paths.run_dir / "journal.jsonl")).cands)
    refused = []
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        why = refusal(key, has_candidates)
        if why is not None:
            refused.append(f"{key} ({why})")
    if refused:
        raise ConfigError(
            f"resume of {paths.run_id} refuses {'; '.join(refused)}: the run has stored "
            "candidates; start a new run with `archlab launch` to change these"
        )
    return overrides


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
    cfg = load_config([paths.config], _allowed_overrides(paths, args.overrides), check=True)
    if args.overrides:
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
