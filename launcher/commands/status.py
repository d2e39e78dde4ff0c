"""``archlab status RUN``: states, best so far, GPU-hours, LLM spend, re-attached/resubmitted
candidates, ETA (live on a terminal)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from launcher.config import RunConfig
    from launcher.run import RunPaths
    from nas.controller.state import RunState

__all__ = ["failure_lines", "last_error", "llm_spend", "register", "run_status", "status_text"]

# The live view re-reads the store's llm_calls at most this often (it may be on S3).
STORE_REFRESH_S = 15.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "status",
        help="show a run's progress (a live view when attached to a terminal)",
        description="Reads the run's journal for progress, best and costs (GPU-hours of table "
        "runs are labelled modelled; their best's test accuracy is looked up after selection), "
        "the controller's log for its last error, and the store for the LLM spend and the top "
        "failure kinds with an example message. RUN is a run id under --runs-root or a run "
        "directory.",
    )
    p.add_argument("run", metavar="RUN")
    p.add_argument("--runs-root", default="runs", help="where run directories live (default: runs)")
    p.add_argument("--once", action="store_true", help="print once, even on a terminal")
    p.add_argument("--interval", type=float, default=2.0, help="live view refresh, seconds")
    p.set_defaults(func=run_status)


def llm_spend(cfg: RunConfig, paths: RunPaths) -> str:
    """``N calls, $X.XX`` from the store's ``llm_calls`` of the run (every call the run paid
    for, also those not tied to a trial); the reason when the store cannot be read."""
    try:
        import pyarrow.compute as pc

        from launcher.build import build_store
        from nas.llm.serve import tokens_per_s

        store = build_store(cfg, paths)
        calls = store.read("llm_calls", paths.run_id)
        usd = pc.sum(calls.column("cost_usd")).as_py() or 0.0
        events = store.read("events", paths.run_id).to_pylist()
    except Exception as e:  # a status view must not die on an unreachable store
        return f"unknown (store: {type(e).__name__}: {e})"
    rows = calls.to_pylist()
    speed = tokens_per_s(rows)
    rate = f", {speed:.1f} output tokens/s (measured from the calls)" if speed else ""
    return (f"{calls.num_rows} calls, ${float(usd):.2f}{rate}" + _constrained(rows)
            + _server(events))  # fmt: skip


def _server(events: list[dict[str, Any]]) -> str:
    """``; server llamacpp: grammar=ok, json=ok`` from the run's latest structured-output
    probe event ("" when the run made none)."""
    probes = sorted((e for e in events if e.get("kind") == "llm_structured_probe"),
                    key=lambda e: float(e.get("created_at") or 0.0))  # fmt: skip
    if not probes:
        return ""
    p = json.loads(str(probes[-1].get("payload") or "{}"))
    forms = p.get("forms") if isinstance(p.get("forms"), dict) else {}
    says = ", ".join(f"{f}={s}" for f, s in sorted(forms.items())) or "nothing sent"
    return f"; server {p.get('kind', 'unknown')}: {says}"


def _constrained(rows: list[dict[str, Any]]) -> str:
    """``; constrained: gbnf 9/10 obeyed, none 2/3 obeyed`` over the calls that asked for an
    answer form (docs/agents.md, "Constrained answers"); "" when none did."""
    counts: dict[str, list[int]] = {}
    for r in rows:
        mode = r.get("constraint_mode")
        if mode and r.get("agent") != "structured-probe" and not r.get("retried"):
            c = counts.setdefault(str(mode).split(":")[0], [0, 0])
            c[0] += bool(r.get("obeyed"))
            c[1] += 1
    return ("; constrained: " + ", ".join(f"{m} {o}/{n} obeyed" for m, (o, n) in
            sorted(counts.items()))) if counts else ""  # fmt: skip


def unreadable_lines(cfg: RunConfig, paths: RunPaths) -> list[str]:
    """One line per table file of the run whose Parquet footer cannot be read: the
    controller moves it aside (``_corrupt/``, with a note) when it next starts."""
    from launcher.build import build_store
    from store.result_store import LocalResultStore

    try:
        store = build_store(cfg, paths)
        # footers of an S3 store would be downloaded whole at every refresh: its controller
        # checks them once when it starts
        bad = store.unreadable(paths.run_id) if isinstance(store, LocalResultStore) else []
    except Exception:  # an unreachable store: llm_spend's line already says so
        return []
    return [
        f"corrupt:    {key} ({why}); `archlab controller` moves it to _corrupt/ with a note"
        for key, why in bad
    ]


def failure_lines(paths: Any, top: int = 3) -> list[str]:
    """The ``top`` failure kinds of the run (state, kind, count) with one example message
    each, from the store's trials (the journal keeps no error text)."""
    try:
        from analysis.queries import fetch
        from launcher.build import open_run_source

        con = open_run_source(paths.run_dir, paths.run_id).connect()
        try:
            rows = fetch(con, "failures_by_kind")
        finally:
            con.close()
    except Exception as e:  # a status view must not die on an unreachable store
        return [f"failures:   unknown (store: {type(e).__name__}: {str(e)[:80]})"]
    out = []
    for i, r in enumerate(rows[:top]):
        head = "failures:  " if i == 0 else "           "
        example = " ".join(str(r["example"] or "").split())[:110]
        out.append(f"{head} {r['n']} {r['state']} {r['error_kind']}: {example}")
    if len(rows) > top:
        out.append(
            f"            ... {len(rows) - top} more kinds: archlab sql RUN --query failures_by_kind"
        )
    return out


def last_error(log: str) -> str:
    """The controller log's last error: the final line of its last traceback, else its last
    line that says error; "" when it has none (or there is no log)."""
    from pathlib import Path

    p = Path(log)
    try:
        with p.open("rb") as f:
            f.seek(max(0, p.stat().st_size - 65536))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    found = ""
    in_tb = False
    for line in lines:
        text = line.strip()
        if line.startswith("Traceback"):
            in_tb = True
            continue
        if in_tb and text and not line.startswith((" ", "\t")):
            found, in_tb = text, False
        elif not in_tb and ("error" in text.lower() and text.startswith("archlab")):
            found = text
    return found[:200]


def status_text(
    paths: object, with_controller: bool = True, cache: dict[str, Any] | None = None
) -> tuple[str, bool]:
    """The status text and whether the run is over. ``cache`` (the live view's) keeps the
    store's LLM spend and failures for ``STORE_REFRESH_S`` seconds."""
    from analysis.selection import SELECTION_NOTE, test_after_selection
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
    complete = p.states.get("COMPLETE", 0)
    if p.evaluated and not complete:
        verdict += f"; no candidate completed ({p.evaluated} failed)"
    now = time.monotonic()
    pruned = p.states.get("PRUNED", 0)  # stopped at a fidelity rung: not a failure
    failed = p.evaluated - complete - pruned + p.decided
    if cache is not None and now - float(cache.get("store_at", -1e9)) < STORE_REFRESH_S:
        spend, fails = str(cache["llm"]), list(cache["fails"])
    else:
        spend = llm_spend(cfg, paths)
        fails = unreadable_lines(cfg, paths) + (failure_lines(paths) if failed else [])
        if cache is not None:
            cache.update(llm=spend, fails=fails, store_at=now)
    table_run = cfg.train.evaluator == "table"
    lines = [
        f"run:        {paths.run_id}  [{cfg.strategy.name} on {cfg.train.dataset}]",
        f"controller: {verdict}  ({where})",
    ]
    err = last_error(str(info.get("log") or ""))
    if err and not p.finished:
        lines.append(f"last error: {err}  (log {info.get('log')})")
    plines = p.lines(modelled_cost=table_run)
    lines += plines[:3]
    if table_run and p.best:
        arch = str(st.cands[p.best[0]].row.get("arch", "")) if p.best[0] in st.cands else ""
        from launcher.build import run_facts

        test = test_after_selection(run_facts(cfg), arch)
        if test is not None:
            lines.append(f"best test:  {test:.4f} ({SELECTION_NOTE})")
    lines += [
        *plines[3:],
        *fails,
        *_fidelity_line(st),
        f"restarts:   {st.attached} re-attached to their jobs, {st.resubmitted} resubmitted",
        f"LLM calls:  {spend} (store: every call of the run)",
        *_llm_server_line(events, with_controller),
        *_store_line(paths),
        f"            {p.bar()}",
    ]
    return "\n".join(lines), bool(p.stop) or ctl == "not running"


def _fidelity_line(st: RunState) -> list[str]:
    """[issue 25] Rung decisions and the GPU-hours the stopped candidates did not spend."""
    if not st.rungs:
        return []
    return [
        f"fidelity:   {st.rungs} rung decisions: {st.promoted} promoted, "
        f"{st.rungs - st.promoted} stopped (PRUNED); GPU-hours saved vs full training "
        f"~{st.saved_s / 3600:.2f} (spent {st.gpu_s / 3600:.2f})"
    ]


def _llm_server_line(events: list[dict[str, Any]], query: bool) -> list[str]:
    """[issue 26] The run's ``llm.serve`` job: its state now (one query), node and URL."""
    from nas.llm.serve import ServerView

    view = ServerView.of(events)
    if view is None:
        return []
    state = ""
    if query and not view.ended:
        state = _job_state(view.job_id)
    return [f"LLM server: {view.line(state)}"]


def _job_state(job: str) -> str:
    if job.startswith("local-"):
        import os

        try:
            os.kill(int(job[6:]), 0)
        except (ValueError, ProcessLookupError):
            return "ended"
        except PermissionError:
            pass
        return "running"
    from slurm.service import job_state

    return job_state(job) or "unknown to the cluster"  # never raises


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
