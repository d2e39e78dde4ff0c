"""Result-store benchmark: synthetic trial rows on both backends.

Reports append throughput (rows/s), files before/after compaction, compaction time and the
latency of a top-10-by-accuracy query with a params filter (goal <= 0.5 s) over all rows.

    .venv/bin/python bench/bench_store.py                       # 1,000,000 rows, local + s3
    .venv/bin/python bench/bench_store.py --rows 100000 --backends local

The S3 backend uses the local S3 server (scripts/s3-up.sh; started here when
ARCHLAB_TEST_S3_ENDPOINT is not set).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from store import open_store  # noqa: E402

QUERY = (
    "SELECT candidate_id, val_acc, params FROM trials "
    "WHERE params < 1000000 ORDER BY val_acc DESC LIMIT 10"
)
STATES = np.array(["COMPLETE"] * 8 + ["FAILED", "DIVERGED"])


def synthetic_trials(rng: np.random.Generator, start: int, n: int) -> pa.Table:
    ids = np.char.add("c", np.arange(start, start + n).astype(str))
    params = rng.lognormal(mean=13.5, sigma=1.0, size=n).astype(np.int64)  # median ~0.7 M
    val = np.clip(rng.normal(0.7, 0.1, n), 0, 1)
    return pa.table(
        {
            "candidate_id": ids,
            "state": STATES[rng.integers(0, len(STATES), n)],
            "val_acc": val,
            "test_acc": np.clip(val - 0.01, 0, 1),
            "train_loss": rng.random(n),
            "params": params,
            "flops": params * 30,
            "wall_seconds": rng.random(n) * 300,
            "epochs_run": np.full(n, 12, np.int32),
            "attempt": np.ones(n, np.int32),
            "evaluator": np.full(n, "train"),
            "started_at": np.full(n, 1.7e9),
            "finished_at": np.full(n, 1.7e9 + 300),
        }
    )


def s3_endpoint() -> str:
    if not os.environ.get("ARCHLAB_TEST_S3_ENDPOINT"):
        out = subprocess.run(
            ["bash", str(REPO / "scripts/s3-up.sh")], capture_output=True, text=True, check=True
        )
        os.environ.update(
            dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
        )
    return os.environ["ARCHLAB_TEST_S3_ENDPOINT"]


def timed_query(store: object, repeats: int) -> tuple[float, float, list[tuple[object, ...]]]:
    t0 = time.perf_counter()
    con = store.connect()  # type: ignore[attr-defined]
    rows = con.sql(QUERY).fetchall()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeats):
        t = time.perf_counter()
        con.sql(QUERY).fetchall()
        warm.append(time.perf_counter() - t)
    return cold, statistics.median(warm), rows


def bench(backend: str, rows: int, batch: int, runs: int, repeats: int) -> dict[str, object]:
    if backend == "local":
        uri, endpoint = tempfile.mkdtemp(prefix="archlab-bench-"), None
    else:
        endpoint = s3_endpoint()
        uri = f"s3://{os.environ.get('ARCHLAB_TEST_S3_BUCKET', 'archlab-test')}/bench-{uuid.uuid4().hex[:8]}"
    store = open_store(uri, endpoint=endpoint)
    rng = np.random.default_rng(0)
    per_run = rows // runs
    batches = [synthetic_trials(rng, i, batch) for i in range(0, per_run, batch)]  # pre-generated
    t0 = time.perf_counter()
    for r in range(runs):
        for b in batches:
            store.append("trials", f"run{r:03d}", b)
    append_s = time.perf_counter() - t0
    files_before = len(store.files("trials"))
    cold_before, warm_before, _ = timed_query(store, max(3, repeats // 4))
    t0 = time.perf_counter()
    for r in range(runs):
        store.compact(f"run{r:03d}", ["trials"])
    compact_s = time.perf_counter() - t0
    files_after = len(store.files("trials"))
    cold, warm, top = timed_query(store, repeats)
    total = store.query("SELECT count(*) AS n FROM trials").column("n")[0].as_py()
    assert total == runs * per_run, total
    return {
        "backend": backend,
        "rows": total,
        "appends": runs * len(batches),
        "append_rows_per_s": total / append_s,
        "append_s": append_s,
        "files_before": files_before,
        "files_after": files_after,
        "compact_s": compact_s,
        "query_before_cold_s": cold_before,
        "query_before_warm_s": warm_before,
        "query_cold_s": cold,
        "query_warm_s": warm,
        "best": top[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000, help="rows per append (one file each)")
    ap.add_argument("--runs", type=int, default=10, help="runs the rows are spread over")
    ap.add_argument("--repeats", type=int, default=20, help="warm query repetitions (median)")
    ap.add_argument("--backends", default="local,s3")
    args = ap.parse_args()
    print(f"# bench_store: {args.rows:,} trial rows, {args.batch} rows/append, {args.runs} runs")
    print(f"# {platform.platform()}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    print(f"# query: {QUERY}")
    print()
    print(
        "| backend | rows | append rows/s | files before → after | compaction | query before compaction (cold / warm) | query after (cold / warm) |"
    )
    print("|---|---|---|---|---|---|---|")
    for backend in args.backends.split(","):
        r = bench(backend, args.rows, args.batch, args.runs, args.repeats)
        print(
            f"| {r['backend']} | {r['rows']:,} | {r['append_rows_per_s']:,.0f} ({r['appends']} appends in {r['append_s']:.1f} s) "
            f"| {r['files_before']} → {r['files_after']} | {r['compact_s']:.1f} s "
            f"| {r['query_before_cold_s']:.3f} s / {r['query_before_warm_s']:.3f} s "
            f"| {r['query_cold_s']:.3f} s / {r['query_warm_s']:.3f} s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
