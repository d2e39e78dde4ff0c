"""``archlab status RUN``: states, best so far, GPU-hours, LLM spend, re-attached/resubmitted
candidates, ETA (live on a terminal)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

__all__ = ["llm_spend", "register", "run_status", "status_text"]

# The live view re-reads the store's llm_calls at most this often (it may be on S3).
STORE_REFRESH_S = 15.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "status",
        help="show a run's progress (a live view when attached to a terminal)",
        description="Reads the run's journal (and the LLM calls in its store); RUN is a run id "
        "under --runs-root or a run directory.",
    )
    p.add_argument("run", metavar="RUN")
    p.add_argument("--runs-root", default="runs", help="where run directories live (default: runs)")
    p.add_argument("--once", action="store_true", help="print once, even on a terminal")
    p.add_argument("--interval", type=float, default=2.0, help="live view refresh, seconds")
    p.set_defaults(func=run_status)


def llm_spend(cfg: Any, paths: Any) -> str:
    """``N calls, $X.XX`` from the store's ``llm_calls`` of the run (every call the run paid
    for, also those not tied to a trial); the reason when the store cannot be read."""
    try:
        import pyarrow.compute as pc

        from launcher.build import build_store

        calls = build_store(cfg, paths).read("llm_calls", paths.run_id, columns=["cost_usd"])
        usd = pc.sum(calls.column("cost_usd")).as_py() or 0.0
    except Exception as e:  # a status view must not die on an unreachable store
        return f"unknown (store: {type(e).__name__}: {e})"
    return f"{calls.num_rows} calls, ${float(usd):.2f}"


def status_text(
    paths: object, with_controller: bool = True, cache: dict[str, Any] | None = None
) -> tuple[str, bool]:
    """The status text and whether the run is over. ``cache`` (the live view's) keeps the
    store's LLM spend for ``STORE_REFRESH_S`` seconds."""
    from launcher.config import load_config
    from launcher.run import RunPaths, controller_info, controller_state
    from nas.controller.journal import read_events
    from nas.controller.progress import progress
    from nas.controller.state import fold

    assert isinstance(paths, RunPaths)
    cfg = load_config([paths.config])
    events = read_events(paths.run_dir / "journal.jsonl")
    st = fold(events)
    p = progress(paths.run_dir, cfg.budget.candidates, cfg.executor.max_in_flight, events=events)
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
    now = time.monotonic()
    if cache is not None and now - float(cache.get("llm_at", -1e9)) < STORE_REFRESH_S:
        spend = str(cache["llm"])
    else:
        spend = llm_spend(cfg, paths)
        if cache is not None:
            cache.update(llm=spend, llm_at=now)
    lines = [
        f"run:        {paths.run_id}  [{cfg.strategy.name} on {cfg.train.dataset}]",
        f"controller: {verdict}  ({where})",
        *p.lines(),
        f"restarts:   {st.attached} re-attached to their jobs, {st.resubmitted} resubmitted",
        f"LLM calls:  {spend} (store: every call of the run)",
        *_store_line(paths),
        f"            {p.bar()}",
    ]
    return "\n".join(lines), bool(p.stop) or ctl == "not running"


def _store_line(paths: Any) -> list[str]:
    """[issue 18] The controller's store-outage report (``store_status.json``), if any."""
    from store.retry import STATUS_FILE, read_outage

    text = read_outage(paths.run_dir / STATUS_FILE)
    return [f"store:      {text}"] if text else []


def run_status(args: argparse.Namespace) -> int:
    from launcher.run import find_run
    from nas.controller.journal import JournalCorrupt

    paths = find_run(args.run, args.runs_root)
    live = sys.stdout.isatty() and not args.once
    if not live:
        try:
            print(status_text(paths)[0])
        except JournalCorrupt as e:  # [issue 18] the damage and the recovery hint, one line
            print(f"archlab status: {e}", file=sys.stderr)
            return 2
        return 0
    cache: dict[str, Any] = {}
    try:
        while True:
            text, over = status_text(paths, cache=cache)
            sys.stdout.write("\x1b[H\x1b[2J" + text + "\n(Ctrl-C to leave; the run goes on)\n")
            sys.stdout.flush()
            if over:
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
