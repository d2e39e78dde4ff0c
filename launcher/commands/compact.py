"""``archlab compact RUN``: merge a run's many small Parquet files, one table at a time.

    archlab compact demo-20260101-120000-ab12cd
    archlab compact runs/my-run --target-mb 64

Each result a controller stores is one small file; a 500-candidate run leaves hundreds per
table. Compaction merges them (rows and their order kept; safe while readers or the
controller run) and writes an empty file with the schema for tables the run never wrote, so
plain DuckDB (``read_parquet('tables/llm_calls/*/*.parquet')``) works on every table.
"""

from __future__ import annotations

import argparse

__all__ = ["register", "run_compact"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "compact",
        help="merge a run's small Parquet files (and give empty tables a schema file)",
        description=(__doc__ or "").split("\n\n")[2],
        epilog=(__doc__ or "").split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", metavar="RUN", help="run id (under --runs-root) or run directory")
    p.add_argument("--runs-root", default="runs", help="where run directories live (default: runs)")
    p.add_argument(
        "--target-mb", type=float, default=0.0, help="merged file size to aim at (default: store's)"
    )
    p.set_defaults(func=run_compact)


def run_compact(args: argparse.Namespace) -> int:
    from launcher.build import open_run_source
    from launcher.config import ConfigError
    from launcher.run import find_run
    from store.empty_tables import write_schema_files

    if args.target_mb < 0:
        raise ConfigError(f"--target-mb {args.target_mb:g}: give a positive size in MB")
    paths = find_run(args.run, args.runs_root)
    src = open_run_source(paths.run_dir, paths.run_id)
    if args.target_mb:
        results = src.store.compact(paths.run_id, target_bytes=int(args.target_mb * 2**20))
    else:
        results = src.store.compact(paths.run_id)
    empty = set(write_schema_files(src.store, paths.run_id))
    print(f"archlab compact: {paths.run_id} ({src.store.uri})")
    for r in results:
        note = f"  ({r.skipped})" if r.skipped else ""
        after = r.files_after
        if r.table in empty:
            note += "  (empty: a zero-row file with the schema)"
            after += 1
        print(f"  {r.table:<12} {r.files_before:>5} -> {after:>3} files, {r.rows:>7} rows{note}")
    return 0
