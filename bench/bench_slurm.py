"""Benchmark: a 500-call no-op array on the local Slurm cluster.

Prints submit-to-first-result latency, calls/s, the number of sbatch calls and of
slurmctld/slurmdbd queries (sacct/squeue/scontrol/scancel). Needs the cluster:

    eval "$(bash scripts/slurm-up.sh)" && export SLURM_CONF
    .venv/bin/python bench/bench_slurm.py --calls 500 --poll 10
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# the array's workers import the submitted callables from tests/support too
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
)

from slurm import Call, SiteParams  # noqa: E402
from slurm.slurm_executor import SlurmExecutor  # noqa: E402
from tests.support import cluster_calls as T  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--poll", type=float, default=10.0, help="status query interval (s)")
    parser.add_argument("--pack", type=int, default=1, help="calls per array task")
    parser.add_argument("--folder", default="", help="where the job folder goes (default: tmp)")
    args = parser.parse_args()
    reason = T.cluster_skip_reason()
    if reason:
        print(f"bench_slurm: {reason}", file=sys.stderr)
        return 2
    folder = args.folder or tempfile.mkdtemp(prefix="bench-slurm-")
    site = SiteParams(time="10", cpus_per_task=1, mem="100M", signal_delay_s=60)
    ex = SlurmExecutor(folder, site=site, poll_interval_s=args.poll, pack=args.pack)
    t0 = time.monotonic()
    handles = ex.submit([Call(T.noop, key=str(i)) for i in range(args.calls)])
    t_submit = time.monotonic() - t0
    first = None
    ok = 0
    for h in ex.as_completed(handles, timeout_s=1800):
        if first is None:
            first = time.monotonic() - t0
        ok += bool(h.outcome and h.outcome.ok)
    total = time.monotonic() - t0
    stats = ex.stats()
    result = {
        "calls": args.calls,
        "pack": args.pack,
        "poll_interval_s": args.poll,
        "cpus": os.cpu_count(),
        "ok": ok,
        "submit_s": round(t_submit, 2),
        "first_result_s": round(first or float("nan"), 2),
        "total_s": round(total, 1),
        "calls_per_s": round(args.calls / total, 2),
        "sbatch_calls": stats["sbatch_calls"],
        "slurmctld_queries": stats["queries"],
    }
    print(json.dumps(result, indent=2))
    return 0 if ok == args.calls else 1


if __name__ == "__main__":
    raise SystemExit(main())
