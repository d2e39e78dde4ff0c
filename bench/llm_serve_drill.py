"""The ``llm.serve`` drill on the local Slurm cluster, for a real model (issue 26).

    bash scripts/slurm-up.sh            # export what it prints (SLURM_CONF=...)
    bash scripts/llm-up.sh --install-only   # venv + verified model; starts NO server
    python bench/llm_serve_drill.py --kind llama_cpp --out /tmp/serve-drill

Two NADER runs (demo data, trainings replaced by counted sleeps: ``ARCHLAB_TEST_EVALUATOR``)
whose every LLM call goes to a server the run starts as a Slurm job of its own
(``llm.serve.kind=llama_cpp``: the project's model, the facts of ``scripts/llm-up.sh``):

A. the run starts its server job and waits for it; after the first training starts the
   drill ``scancel``\\ s the server job (the controller must notice, start a new one and go
   on), then ``scontrol requeue``\\ s the controller (the restarted controller must
   re-attach to the same server job), then waits for the run to finish;
B. a second run: once its server answers, the drill ``scancel``\\ s the controller and times
   how long the server job lives on (must be < 60 s).

It prints and writes ``OUT/summary.json``: server jobs per run (journal and ``sacct``),
requests the servers received (their access logs) against the run's answered
``llm_calls``, training starts per candidate, and each phase's timing; it exits 1 when a
check fails. ``--kind command`` runs the same drill against the scripted test server (what
``tests/integration/test_llm_serve_slurm.py`` does; a check of this script in seconds).

Expect phase A to take 20-40 min with the 1.5B CPU model on 2 busy cores (a NADER call
takes 25-165 s). The model server of ``scripts/llm-up.sh`` (127.0.0.1:8765) is never
touched: the drill's servers pick free ports.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from launcher.llm_local import LOCAL_LLM_OVERRIDES
from nas.llm.serve import LLAMA_CPP
from slurm.cluster import TERMINAL_STATES, SlurmClient
from slurm.service import job_state
from tests.support.serve_drill import Drill, launch, server_jobs_in_sacct, wait_for


def _state(job: str) -> str:
    return job_state(job)


def _serve_settings(kind: str, llama_dir: str) -> tuple[str, ...]:
    if kind == "command":
        return ()  # the scripted server (serve_drill's default)
    local = tuple(o for o in LOCAL_LLM_OVERRIDES if o.startswith(("llm.", "strategy.nader.")))
    return (
        f"llm.model={LLAMA_CPP.alias}",
        *local,
        "llm.serve.kind=llama_cpp",
        *((f"llm.serve.llama_dir={llama_dir}",) if llama_dir else ()),
        "llm.serve.threads=1",
    )


def _phase_a(tmp: Path, kind: str, serve: tuple[str, ...], n: int, log: dict) -> None:
    d = launch(tmp, "drill-a", cluster="slurm", candidates=n, train_s=5.0, serve=serve or None,
               extra=("llm.serve.ready_timeout_s=600", "llm.serve.site.mem=4G",
                      "executor.site.time=02:00:00",
                      "executor.site.controller_time=04:00:00", "llm.serve.site.time=04:00:00"))  # fmt: skip
    log["a"] = {"run_dir": str(d.run_dir), "controller_job": d.controller_job}
    t0 = time.monotonic()
    wait_for(lambda: d.server_events("ready"), 900, "the first server job to answer", 2)
    first = str(d.server_events("ready")[-1]["job_id"])
    log["a"]["first_ready_s"] = round(time.monotonic() - t0, 1)
    wait_for(lambda: d.training_starts(), 3600, "a first training", 2)
    SlurmClient().cancel([first])
    log["a"]["scancel_server"] = first
    t1 = time.monotonic()
    wait_for(lambda: len(d.server_events("ready")) >= 2 or d.stopped(), 3600,
             "a new server job after the scancel", 2)  # fmt: skip
    log["a"]["new_server_after_s"] = round(time.monotonic() - t1, 1)
    if not d.stopped():
        SlurmClient().run(["scontrol", "requeue", d.controller_job])
        log["a"]["requeued_controller"] = d.controller_job
        wait_for(lambda: d.server_events("attach") or d.stopped(), 1800,
                 "the requeued controller to re-attach", 2)  # fmt: skip
    wait_for(lambda: d.stopped() in ("done", "exhausted") or d.stopped().startswith("budget"),
             7200, "run A to finish", 5)  # fmt: skip
    log["a"].update(_facts(d, n))


def _phase_b(tmp: Path, serve: tuple[str, ...], log: dict) -> None:
    d = launch(tmp, "drill-b", cluster="slurm", candidates=50, train_s=5.0, serve=serve or None,
               extra=("llm.serve.ready_timeout_s=600", "llm.serve.site.mem=4G"))  # fmt: skip
    wait_for(lambda: d.server_events("ready"), 900, "run B's server job to answer", 2)
    server = str(d.server_events("ready")[-1]["job_id"])
    SlurmClient().cancel([d.controller_job])
    t0 = time.monotonic()
    wait_for(lambda: _state(server) in TERMINAL_STATES, 120, "run B's server job to end", 1)
    log["b"] = {"run_dir": str(d.run_dir), "server_job": server, "state": _state(server),
                "server_gone_after_s": round(time.monotonic() - t0, 1),
                "server_jobs": [e["job_id"] for e in d.server_events("submit")]}  # fmt: skip


def _facts(d: Drill, n: int) -> dict:
    calls = d.table("llm_calls")
    ok = [r for r in calls if r["status"] == "ok"]
    starts = d.training_starts()
    subs = [str(e["job_id"]) for e in d.server_events("submit")]
    return {
        "stop": d.stopped(),
        "server_jobs_journal": subs,
        "server_jobs_sacct": server_jobs_in_sacct(d),
        "attached": [e["job_id"] for e in d.server_events("attach")],
        "requests_received": d.served(),
        "llm_calls_ok": len(ok),
        "llm_calls_rows": len(calls),
        "trainings": len(starts),
        "trained_twice": sorted(c for c, k in starts.items() if k > 1),
        "candidates": n,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kind", choices=("llama_cpp", "command"), default="llama_cpp")
    p.add_argument("--llama-dir", default="", help="scripts/llm-up.sh's ARCHLAB_LLM_DIR")
    p.add_argument("--candidates", type=int, default=3)
    p.add_argument("--out", default="/tmp/llm-serve-drill")
    p.add_argument("--phase", choices=("a", "b", "both"), default="both")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / time.strftime("%Y%m%d-%H%M%S")
    tmp.mkdir()
    serve = _serve_settings(args.kind, args.llama_dir)
    log: dict = {"kind": args.kind, "dir": str(tmp)}
    failures: list[str] = []
    try:
        if args.phase in ("a", "both"):
            _phase_a(tmp, args.kind, serve, args.candidates, log)
            a = log["a"]
            if a["trained_twice"] or a["trainings"] != args.candidates:
                failures.append(f"A: {a['trainings']} trainings, twice: {a['trained_twice']}")
            if len(a["server_jobs_journal"]) != 2:
                failures.append(f"A: server jobs {a['server_jobs_journal']} (want 2: the "
                                "first and the one after its scancel)")  # fmt: skip
            if "requeued_controller" in a and a["attached"] != a["server_jobs_journal"][-1:]:
                failures.append(f"A: re-attached to {a['attached']}, not the live server")
            if a["requests_received"] > a["llm_calls_ok"] + 2:
                failures.append(f"A: {a['requests_received']} requests for "
                                f"{a['llm_calls_ok']} answered calls")  # fmt: skip
        if args.phase in ("b", "both"):
            _phase_b(tmp, serve, log)
            if log["b"]["server_gone_after_s"] > 60 or len(log["b"]["server_jobs"]) != 1:
                failures.append(f"B: {log['b']}")
    except AssertionError as e:  # a wait timed out
        failures.append(str(e))
    log["failures"] = failures
    (out / "summary.json").write_text(json.dumps(log, indent=2) + "\n")
    print(json.dumps(log, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
