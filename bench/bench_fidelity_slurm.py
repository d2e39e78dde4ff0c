"""Drill: ASHA versus full training, really trained, through local Slurm arrays (issue 25).

Two runs of the same random search (the same seed, so the same candidates, in the same order)
train NAS-Bench-201 cells on Fashion-MNIST as Slurm array tasks: one with
``fidelity.kind=asha`` (rungs min..max epochs, eta), one with ``fidelity.kind=none`` (every
candidate trains the full recipe). Both controllers run in the foreground as a user starts
them (``archlab controller RUN_DIR --config CFG``), side by side. In the ASHA run the drill

1. kills the controller with SIGKILL once ``--kill-after`` rung decisions are stored, and
   starts it again with the same command (``archlab controller RUN_DIR``: resume);
2. ``scontrol requeue``-s one promoted task (a start resumed from a rung checkpoint) once it
   has checkpointed an epoch of its new rung.

Then it counts, from the store and the trainer's ledger of training starts
(``RUN/checkpoints/starts.jsonl``, one line per training attempt): epochs trained (the
``epochs`` table: one row per candidate and epoch; the ledger: the epochs each attempt
trained), epochs trained twice, starts from scratch per candidate, rung decisions stored
versus the rungs the epochs table shows each candidate reached (a rung reached without a
decision = a decision lost), and the best validation accuracy (selected on validation, its
test accuracy reported). Needs the local cluster and the Debian Fashion-MNIST package:

    eval "$(bash scripts/slurm-up.sh)" && export SLURM_CONF
    PYTHONPATH=$PWD .venv/bin/python bench/bench_fidelity_slurm.py --out bench/results
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nas.controller.journal import read_events
from tests.support import cluster_calls as T

CONFIG: dict[str, Any] = {
    "experiment": {"name": "fid-drill", "seed": 0},
    "space": {"kind": "nb201", "nb201_channels": 4, "nb201_cells": 1},
    "strategy": {"name": "random"},
    "train": {
        "dataset": "fashion-mnist",
        "data_dir": "/usr/share/datasets/fashion-mnist",  # the Debian package dataset-fashion-mnist
        "epochs": 9,
        "batch_size": 64,
        "lr": 0.05,
        "augment": False,
        "data_fraction": 0.05,  # 2,850 of the 57,000 training images (seeded per candidate)
        "val_fraction": 0.05,  # 3,000 validation images (the same split for every candidate)
        "device": "cpu",
        "threads": 1,
    },
    "executor": {
        "kind": "slurm",
        "max_in_flight": 2,
        "poll_interval_s": 2.0,
        "site": {
            "time": "00:20:00",
            "cpus_per_task": 1,
            "mem": "1500M",
            "array_throttle": 2,
            "signal_delay_s": 60,
        },
    },
    "budget": {"candidates": 48},
}


def controller_cmd(run_dir: Path, config: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "launcher", "controller", str(run_dir)]
    return cmd + (["--config", str(config)] if config else [])


def start(run_dir: Path, config: Path | None, log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # the child process owns it
    return subprocess.Popen(controller_cmd(run_dir, config), stdout=out, stderr=out,
                            start_new_session=True)  # fmt: skip


def journal(run_dir: Path) -> list[dict[str, Any]]:
    """The run's journal events (a torn last line of a killed controller left out)."""
    p = run_dir / "journal.jsonl"
    return read_events(p) if p.is_file() else []


def starts(run_dir: Path) -> list[dict[str, Any]]:
    p = run_dir / "checkpoints" / "starts.jsonl"
    if not p.is_file():
        return []
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def running_tasks() -> set[str]:
    r = subprocess.run(["squeue", "-h", "-t", "R", "-o", "%i"], capture_output=True, text=True,
                       check=False)  # fmt: skip
    return {x.strip() for x in r.stdout.split()}


@dataclass
class Drill:
    """What the fault drill did (times are seconds since the drill started)."""

    killed_at_decisions: int = -1
    kill_t: float = 0.0
    requeued_task: str = ""
    requeued_candidate: str = ""
    requeued_rung: tuple[int, int] = (0, 0)
    requeue_t: float = 0.0
    notes: list[str] = field(default_factory=list)


def rung_decisions(run_dir: Path) -> int:
    return sum(1 for e in journal(run_dir) if e.get("ev") == "rung")


def try_requeue(run_dir: Path, d: Drill, t0: float) -> None:
    """Requeue one running promoted task once it has checkpointed an epoch of its rung."""
    ck = run_dir / "checkpoints"
    live = running_tasks()
    for s in reversed(starts(run_dir)):
        if s["first_epoch"] <= 1 or s["slurm_task"] not in live or s["restart"]:
            continue
        p = ck / f"{s['candidate_id']}.pt"
        if not p.is_file() or p.stat().st_mtime <= s["t"] + 0.5:
            continue  # no epoch of the new rung checkpointed yet
        if s["last_epoch"] - s["first_epoch"] < 1:
            continue  # a one-epoch rung would finish before the requeue lands
        r = subprocess.run(["scontrol", "requeue", s["slurm_task"]], capture_output=True,
                           text=True, check=False)  # fmt: skip
        if r.returncode == 0:
            d.requeued_task, d.requeued_candidate = s["slurm_task"], s["candidate_id"]
            d.requeued_rung = (s["first_epoch"], s["last_epoch"])
            d.requeue_t = time.time() - t0
        else:
            d.notes.append(f"scontrol requeue {s['slurm_task']}: {r.stderr.strip()[:200]}")
        return


def run_pair(work: Path, kill_after: int, timeout_s: float) -> tuple[Path, Path, Drill]:
    work.mkdir(parents=True, exist_ok=True)
    runs: dict[str, Path] = {}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for kind in ("asha", "none"):
        cfg = json.loads(json.dumps(CONFIG))
        cfg["experiment"]["name"] = f"fid-{kind}"
        cfg["fidelity"] = ({"kind": "asha", "min_epochs": 1, "max_epochs": 9, "eta": 3}
                           if kind == "asha" else {"kind": "none"})  # fmt: skip
        path = work / f"{kind}.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        runs[kind] = work / f"run-{kind}"
        procs[kind] = start(runs[kind], path, work / f"{kind}.log")
    d, t0 = Drill(), time.time()
    asha = runs["asha"]
    while time.time() - t0 < timeout_s:
        time.sleep(2.0)
        if d.killed_at_decisions < 0 and rung_decisions(asha) >= kill_after:
            os.kill(procs["asha"].pid, signal.SIGKILL)  # kill -9: no handler, no flush
            procs["asha"].wait()
            d.killed_at_decisions, d.kill_t = rung_decisions(asha), time.time() - t0
            time.sleep(3.0)  # tasks go on running meanwhile; then the user restarts it
            procs["asha"] = start(asha, None, work / "asha.log")
        elif d.killed_at_decisions >= 0 and not d.requeued_task:
            try_requeue(asha, d, t0)
        if all(p.poll() is not None for p in procs.values()):
            break
    for kind, p in procs.items():
        if p.poll() is None:
            d.notes.append(f"{kind} controller still running after {timeout_s:.0f} s: stopped")
            p.terminate()
            p.wait()
        elif p.returncode:
            d.notes.append(f"{kind} controller exit status {p.returncode}")
    return runs["asha"], runs["none"], d


def read_run(run_dir: Path) -> dict[str, list[dict[str, Any]]]:
    from launcher.config import load_config

    cfg = load_config([run_dir / "config.yaml"])
    store = cfg.store.open(run_dir / "tables")
    rid = run_dir.name
    return {t: store.read(t, rid).to_pylist() for t in ("trials", "epochs", "events")}


def trained_epochs(ledger: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Per candidate, every epoch some attempt trained (an attempt trains from its first
    epoch up to the next attempt's first epoch - 1, or to its last one)."""
    by: dict[str, list[dict[str, Any]]] = {}
    for s in sorted(ledger, key=lambda s: s["t"]):
        by.setdefault(s["candidate_id"], []).append(s)
    out: dict[str, list[int]] = {}
    for cid, ss in by.items():
        eps: list[int] = []
        for i, s in enumerate(ss):
            end = s["last_epoch"] if i + 1 == len(ss) else min(s["last_epoch"],
                                                               ss[i + 1]["first_epoch"] - 1)  # fmt: skip
            eps += range(s["first_epoch"], end + 1)
        out[cid] = eps
    return out


def figures(run_dir: Path, full: int, ladder: tuple[int, ...]) -> dict[str, Any]:
    """The run's counts; ``ladder`` = its rungs (``(full,)`` without a schedule)."""
    t = read_run(run_dir)
    trials = t["trials"]
    by_state: dict[str, int] = {}
    for r in trials:
        by_state[r["state"]] = by_state.get(r["state"], 0) + 1
    final = [r for r in trials if r["state"] == "COMPLETE" and r["val_acc"] is not None
             and (r["fidelity_epochs"] in (None, full))]  # fmt: skip
    best = max(final, key=lambda r: (r["val_acc"], -(r["finished_at"] or 0)), default=None)
    rows = {(r["candidate_id"], int(r["epoch"])) for r in t["epochs"]}
    reached: dict[str, int] = {}
    for cid, e in rows:
        reached[cid] = max(reached.get(cid, 0), e)
    ledger = starts(run_dir)
    trained = trained_epochs(ledger)
    n_trained = sum(len(v) for v in trained.values())
    twice = sum(len(v) - len(set(v)) for v in trained.values())
    scratch = {cid: sum(1 for s in ledger if s["candidate_id"] == cid and s["first_epoch"] == 1)
               for cid in trained}  # fmt: skip
    rung_rows = [json.loads(e["payload"]) for e in t["events"] if e["kind"] == "rung"]
    keys = [(p["candidate_id"], int(p["epochs"])) for p in rung_rows]
    journaled = [(e["candidate_id"], int(e["epochs"])) for e in journal(run_dir)
                 if e.get("ev") == "rung"]  # fmt: skip
    # a rung below full that a candidate's epochs reached needs exactly one stored decision
    needed = {(cid, r) for cid, top in reached.items() for r in ladder[:-1] if r <= top}
    promoted = {k for k, p in zip(keys, rung_rows, strict=True) if p["promote"]}
    went_on = {(cid, r) for cid, r in promoted if reached.get(cid, 0) > r}
    return {
        "run_dir": str(run_dir),
        "candidates": len({r["candidate_id"] for r in trials}),
        "trials_by_state": by_state,
        "best_val_acc": best["val_acc"] if best else None,
        "best_candidate": best["candidate_id"] if best else "",
        "best_test_acc": best["test_acc"] if best else None,
        "epochs_table_rows": len(t["epochs"]),
        "epochs_distinct": len(rows),
        "epochs_trained_ledger": n_trained,
        "epochs_trained_twice": twice,
        "training_starts": len(ledger),
        "starts_resumed": sum(1 for s in ledger if s["first_epoch"] > 1),
        "starts_after_requeue": sum(1 for s in ledger if s["restart"]),
        "candidates_started_from_scratch_more_than_once": sum(1 for n in scratch.values() if n > 1),
        "rung_rows": len(rung_rows),
        "rung_decisions_distinct": len(set(keys)),
        "rung_journal_events": len(journaled),
        "rung_journal_distinct": len(set(journaled)),
        "rungs_reached_below_full": len(needed),
        "rung_decisions_lost": len(needed - set(keys)),
        "promotions": len(promoted),
        "promotions_not_trained_on": len(promoted - went_on),
        "candidate_ids": sorted({r["candidate_id"] for r in trials}),
        "curve": {f"{r['candidate_id']}@{int(r['epoch'])}": r["val_acc"] for r in t["epochs"]},
        "final_val": {r["candidate_id"]: r["val_acc"] for r in final},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=".work/fidelity-drill", help="where the two runs go")
    ap.add_argument("--out", default="", help="write fidelity_slurm.json here")
    ap.add_argument("--kill-after", type=int, default=20, help="rung decisions before kill -9")
    ap.add_argument("--timeout", type=float, default=5400.0, help="seconds for both runs")
    ap.add_argument("--figures-only", action="store_true", help="count the runs in --work again")
    args = ap.parse_args()
    reason = T.cluster_skip_reason()
    if reason:
        print(f"bench_fidelity_slurm: {reason}", file=sys.stderr)
        return 2
    work = Path(args.work).resolve()
    t0 = time.time()
    if args.figures_only:
        asha, none, drill = work / "run-asha", work / "run-none", Drill()
        drill_file = work / "drill.json"
        if drill_file.is_file():
            drill = Drill(**{k: tuple(v) if k == "requeued_rung" else v
                             for k, v in json.loads(drill_file.read_text()).items()})  # fmt: skip
    else:
        asha, none, drill = run_pair(work, args.kill_after, args.timeout)
        (work / "drill.json").write_text(json.dumps(drill.__dict__))
    a, n = figures(asha, 9, (1, 3, 9)), figures(none, 9, (9,))
    same = a.pop("candidate_ids") == n.pop("candidate_ids")
    # every epoch ASHA trained (resumed across rungs, the kill and the requeue) against the
    # same candidate's same epoch trained in one go by the full run (CPU, 1 thread: equal)
    ca, cn = a.pop("curve"), n.pop("curve")
    fa, fn = a.pop("final_val"), n.pop("final_val")
    a["epochs_equal_to_full_run"] = sum(1 for k, v in ca.items() if cn.get(k) == v)
    a["finals_equal_to_full_run"] = sum(1 for k, v in fa.items() if fn.get(k) == v)
    a["finals"] = len(fa)
    res = {
        "machine": f"{platform.node()} {os.cpu_count()} CPUs (shared), {platform.machine()}",
        "config": CONFIG,
        "fidelity_asha": {"kind": "asha", "min_epochs": 1, "max_epochs": 9, "eta": 3},
        "same_candidates": same,
        "wall_s": round(time.time() - t0, 1),
        "drill": drill.__dict__,
        "asha": a,
        "none": n,
        "epochs_ratio": (
            a["epochs_trained_ledger"] / n["epochs_trained_ledger"]
            if n["epochs_trained_ledger"]
            else None
        ),
        "best_val_gap": ((n["best_val_acc"] or 0) - (a["best_val_acc"] or 0)),
    }
    print(json.dumps(res, indent=2))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "fidelity_slurm.json").write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
