"""Experience-pool benchmark: N entries (default 10,000), query latency, restart stability.

    .venv/bin/python bench/bench_experience.py                    # hashing embedder, 384-d
    .venv/bin/python bench/bench_experience.py --embedder local   # bundled MiniLM (if installed)

Reports the time to add N entries (store + index), the per-query latency of the index alone
(pre-embedded queries) and end to end (embedding included), with and without a category
filter (p50/p99), the time to reopen (load the saved index) and to rebuild it from the
store, and whether the top-5 of 200 queries is identical after the restart.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from store import ExperiencePool, LocalResultStore, make_embedder

CATS = ["shape mismatch", "invalid connection", "degradation", "divergence", "success"]
OPS = [
    "conv3x3",
    "conv1x1",
    "sep_conv",
    "dil_conv",
    "avg_pool",
    "max_pool",
    "skip",
    "bn",
    "relu",
    "concat",
]


def lesson(rng: np.random.Generator, i: int) -> tuple[str, str]:
    cat = CATS[i % len(CATS)]
    a, b, c = rng.choice(OPS, 3, replace=False)
    text = (
        f"{cat}: placing {a} after {b} at node {rng.integers(1, 9)} with {rng.integers(8, 257)} "
        f"channels; fix by inserting {c} (lesson {i})"
    )
    return text, cat


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1e3, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--embedder", default="", help='"" = hashing (384-d), "local" = bundled MiniLM')
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp(prefix="archlab-exp-"))
    store = LocalResultStore(tmp / "tables")
    emb = make_embedder(args.embedder)
    items = []
    for i in range(args.entries):
        text, cat = lesson(rng, i)
        items.append({"text": text, "category": cat, "kind": "failure", "metadata": {"i": i}})
    t0 = time.perf_counter()
    pool = ExperiencePool(store, "bench", emb, tmp / "index")
    for s in range(0, len(items), 1000):
        pool.add_many(items[s : s + 1000])
    pool.save()
    add_s = time.perf_counter() - t0
    queries = [lesson(rng, 10**6 + i)[0] for i in range(args.queries)]
    qvecs = emb.embed(queries)

    def run(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
        out = []
        for i in range(n):
            t = time.perf_counter()
            fn(i)
            out.append(time.perf_counter() - t)
        return out

    idx = run(lambda i: pool.query_vector(qvecs[i], k=5), args.queries)
    idx_f = run(
        lambda i: pool.query_vector(qvecs[i], k=5, where={"category": CATS[i % 5]}), args.queries
    )
    e2e = run(lambda i: pool.query(queries[i], k=5), args.queries)
    before = [[h.id for h in pool.query(q, k=5)] for q in queries[:200]]
    t0 = time.perf_counter()
    reopened = ExperiencePool(store, "bench", emb, tmp / "index")
    reopen_s = time.perf_counter() - t0
    after = [[h.id for h in reopened.query(q, k=5)] for q in queries[:200]]
    t0 = time.perf_counter()
    rebuilt = ExperiencePool(store, "bench", emb, tmp / "index-rebuilt")
    rebuild_s = time.perf_counter() - t0
    again = [[h.id for h in rebuilt.query(q, k=5)] for q in queries[:200]]
    same_rebuilt = sum(a == b for a, b in zip(before, again, strict=True))
    print(
        f"# bench_experience: {len(pool):,} entries, embedder {emb.name} ({emb.dim}-d), {args.queries} queries, k=5"
    )
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| add {len(pool):,} entries (10 batches: embed + store + index) | {add_s:.2f} s |")
    print(f"| query, index only (p50 / p99) | {pct(idx, 50):.3f} / {pct(idx, 99):.3f} ms |")
    print(
        f"| query, index only, category filter (p50 / p99) | {pct(idx_f, 50):.3f} / {pct(idx_f, 99):.3f} ms |"
    )
    print(
        f"| query, end to end incl. embedding (p50 / p99) | {pct(e2e, 50):.3f} / {pct(e2e, 99):.3f} ms |"
    )
    print(
        f"| reopen (load saved index + rows from the store) | {reopen_s:.2f} s, rebuilt={reopened.rebuilt} |"
    )
    print(
        f"| top-5 identical after restart | {sum(a == b for a, b in zip(before, after, strict=True))}/200 |"
    )
    print(
        f"| rebuild from the store (no index file) | {rebuild_s:.2f} s; top-5 identical {same_rebuilt}/200 |"
    )


if __name__ == "__main__":
    main()
