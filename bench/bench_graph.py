"""Benchmark of nas.graph: parse+validate+hash per block, compile time, the full
NAS-Bench-201 equivalence check and the distinct-hash count.

    .venv/bin/python bench/bench_graph.py [--shared ../shared] [--skip-full]

Reads the NADER fixtures and the NB201 table from ``--shared`` (default: ``../shared``
beside the repo); parts whose inputs are missing are skipped with a note.
"""

from __future__ import annotations

import argparse
import collections
import platform
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[1].parent / "shared"))
    ap.add_argument("--skip-full", action="store_true", help="skip the 15,625-cell check")
    args = ap.parse_args()
    shared = Path(args.shared)

    from nas.graph import (
        SEED_BLOCKS,
        canonical_hash,
        cost,
        dead_edges,
        nb201_spec,
        nb201_to_graph,
        parse_blocks,
        spec_from_blocks,
        validate,
    )
    from nas.graph.nb201 import nb201_op_params
    from nas.spaces.nb201 import to_ops

    print(
        f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}"
    )
    texts = list(SEED_BLOCKS.values())
    fixtures = sorted((shared / "fixtures" / "nader").rglob("*.txt"))
    texts += [f.read_text() for f in fixtures]
    n_blocks = sum(len(parse_blocks(t)) for t in texts)
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        for t in texts:
            for g in parse_blocks(t).values():
                validate(g)
                canonical_hash(g)
    dt = (time.perf_counter() - t0) / (reps * n_blocks)
    print(
        f"parse+validate+hash: {dt * 1e6:.0f} us/block ({n_blocks} blocks: seeds + {len(fixtures)} fixture files)"
    )

    import torch

    from nas.graph import build_model

    specs = {
        "nb201 C=16 N=5": nb201_spec(
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
        ),
        "stages resnet_basic w=64": spec_from_blocks(
            parse_blocks(SEED_BLOCKS["resnet_basic"]), kind="stages", width=64
        ),
        "stages inception w=64": spec_from_blocks(
            parse_blocks(SEED_BLOCKS["inception"]), kind="stages", width=64
        ),
    }
    for name, spec in specs.items():
        build_model(spec)  # warm
        t0 = time.perf_counter()
        for _ in range(5):
            m = build_model(spec)
        dt = (time.perf_counter() - t0) / 5
        t1 = time.perf_counter()
        for _ in range(20):
            c = cost(spec)
        dc = (time.perf_counter() - t1) / 20
        with torch.no_grad():
            m.eval()(torch.zeros(1, *spec.input_shape))
        print(
            f"compile {name}: {dt * 1e3:.1f} ms; cost model {dc * 1e3:.2f} ms; params {c.params:,} macs {c.macs:,}"
        )

    table = shared / "data" / "nb201.parquet"
    if args.skip_full or not table.exists():
        print(f"NB201 full check skipped ({'--skip-full' if args.skip_full else f'no {table}'})")
        return 0
    import pyarrow.parquet as pq

    cols = ["arch_str", "unique_str", "params_M_cifar10", "flops_M_cifar10"]
    t = pq.read_table(table, columns=cols)
    rows = list(zip(*(t.column(c).to_pylist() for c in cols), strict=True))
    t0 = time.perf_counter()
    live_ok = live_n = dead_ok = dead_n = 0
    for arch, _, p_m, f_m in rows:
        c = cost(nb201_spec(arch))
        dead = dead_edges(arch)
        if not dead and any(o != "none" for o in to_ops(arch)):
            live_n += 1
            live_ok += round(c.params / 1e6, 6) == p_m and round(c.macs / 1e6, 5) == f_m
        else:
            dead_n += 1
            pruned = sum(5 * nb201_op_params(o, w) for _, o in dead for w in (16, 32, 64))
            dead_ok += round((c.params + pruned) / 1e6, 6) == p_m
    dt = time.perf_counter() - t0
    print(
        f"NB201 equivalence: {live_ok}/{live_n} fully-live cells exact (params and MACs); "
        f"{dead_ok}/{dead_n} other cells: table - ours == pruned ops' params; "
        f"{dt:.1f} s ({dt / len(rows) * 1e3:.2f} ms/cell)"
    )
    t0 = time.perf_counter()
    h2u: dict[str, set[str]] = collections.defaultdict(set)
    u2h: dict[str, set[str]] = collections.defaultdict(set)
    for arch, u, _, _ in rows:
        h = canonical_hash(nb201_to_graph(arch))
        h2u[h].add(u)
        u2h[u].add(h)
    dt = time.perf_counter() - t0
    print(
        f"distinct canonical hashes over {len(rows)} cells: {len(h2u)} "
        f"(unique_str classes: {len(u2h)}); {dt:.1f} s"
    )
    print(
        f"  hash classes holding >1 unique_str: {sum(len(v) > 1 for v in h2u.values())}; "
        f"unique_str classes split over >1 hash: {sum(len(v) > 1 for v in u2h.values())}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
