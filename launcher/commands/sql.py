"""``archlab sql RUN|--all "SELECT ..."``: DuckDB SQL over runs' Parquet tables.

    archlab sql demo-20260101-120000-ab12cd "SELECT state, count(*) FROM trials GROUP BY 1"
    archlab sql runs/my-run "SELECT * FROM trials ORDER BY val_acc DESC LIMIT 10" --format csv
    archlab sql --all "SELECT run_id, max(val_acc) FROM trials GROUP BY 1" -o best.parquet
    archlab sql --store s3://lab/sweeps --endpoint http://minio:9000 RUN_ID "SELECT ..."
    archlab sql --store s3://lab/sweeps --all "SELECT count(*) FROM trials"

Read-only by default: the query sees only the views above (the run's own Parquet files);
any other file, URL or database is refused, and only SELECT-like statements (SELECT, WITH,
DESCRIBE, SHOW, SUMMARIZE, EXPLAIN) run. --allow-writes lifts both limits (COPY ... TO,
ATTACH, INSTALL, CREATE, reading any file): use it only for SQL you wrote yourself.

A run's tables are where its config put them (``store.uri`` in ``RUN_DIR/config.yaml``,
default ``RUN_DIR/tables``); ``--store`` names a store directly (a directory or
``s3://bucket/prefix``; S3 credentials from the usual AWS environment or ``~/.aws``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from store import ResultStore

__all__ = ["register"]

FORMATS = ("table", "csv", "json", "parquet")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sql",
        help="run a DuckDB SQL query over one run's or all runs' tables",
        description=(
            "Views: candidates, trials, epochs, llm_calls, experiences, events (each with a "
            "run_id column). RUN is a run id under --runs-root or a run directory; with --store "
            "it is a run id in that store. --all queries every run."
        ),
        epilog="\n\n".join(__doc__.split("\n\n")[1:3]) if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "args", nargs="*", metavar="RUN SQL", help="RUN then SQL, or only SQL with --all"
    )
    p.add_argument(
        "--query",
        metavar="NAME",
        default="",
        help="run a named query of analysis/queries instead of SQL, e.g. leaderboard, "
        "best_so_far, pareto_front, failures_by_kind, llm_cost_per_improvement",
    )
    p.add_argument(
        "--all", action="store_true", help="query every run (under --runs-root, or in --store)"
    )
    p.add_argument("--runs-root", default="runs", help="where run directories live (default: runs)")
    p.add_argument("--store", default="", help="a store URI: a directory or s3://bucket/prefix")
    p.add_argument("--endpoint", default=None, help="S3 endpoint URL (MinIO, Ceph, ...)")
    p.add_argument(
        "--region", default=None, help="S3 region (default: AWS settings, else us-east-1)"
    )
    p.add_argument(
        "--virtual-host",
        action="store_true",
        help="S3 virtual-host addressing (default: path style)",
    )
    p.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    p.add_argument("-o", "--output", default="", help="write the result to FILE instead of stdout")
    p.add_argument(
        "--max-rows", type=int, default=100, help="rows shown by --format table (default: 100)"
    )
    p.add_argument(
        "--allow-writes",
        action="store_true",
        help="lift the read-only limits: let the SQL read any file, write (COPY ... TO), "
        "ATTACH databases and INSTALL extensions (default: only SELECT-like statements over "
        "the runs' own tables)",
    )
    p.set_defaults(func=run_sql)


# Statement types a read-only query may hold (DESCRIBE, SHOW, SUMMARIZE and PRAGMA-style
# table functions are SELECTs to DuckDB).
_READ_ONLY = ("SELECT", "EXPLAIN")


class QueryError(ValueError):
    """The SQL cannot run: a mistake in it, or a statement the read-only mode refuses."""


def _check_read_only(query: str) -> None:
    """Raise QueryError unless every statement of ``query`` only reads."""
    import duckdb

    for stmt in duckdb.extract_statements(query):
        kind = stmt.type.name
        if kind not in _READ_ONLY:
            raise QueryError(
                f"{kind} statements are refused: archlab sql is read-only (only "
                "SELECT-like queries over the run's tables); add --allow-writes to run "
                "SQL that writes files, attaches databases or installs extensions"
            )


def run_sql(args: argparse.Namespace) -> int:
    import duckdb

    from launcher.config import ConfigError
    from store.catalog import confine, connect_sources

    if args.query:  # a named query (analysis/queries/NAME.sql) stands in for the SQL text
        from analysis.queries import load

        try:
            args.args = [*args.args, load(args.query)]
        except KeyError as e:
            raise ConfigError(str(e.args[0])) from None
    if args.all and len(args.args) != 1:
        raise ConfigError('with --all give only the query: archlab sql --all "SELECT ..."')
    if not args.all and len(args.args) != 2:
        raise ConfigError(
            'give a run and a query: archlab sql RUN "SELECT ..." (or --all "SELECT ...")'
        )
    if args.format == "parquet" and not args.output:
        raise ConfigError("--format parquet writes a binary file: add -o FILE.parquet")
    query = args.args[-1]
    sources = _sources(args)
    try:
        con = connect_sources(sources)
        if args.query:
            from analysis.queries import install_views

            install_views(con)
        if not args.allow_writes:
            confine(con, [store for store, _ in sources])
    except (PermissionError, RuntimeError) as e:
        raise ConfigError(str(e)) from None
    try:
        if not args.allow_writes:
            _check_read_only(query)
        rel = con.sql(query)
    except duckdb.Error as e:
        raise QueryError(f"{e}") from None
    if rel is None:  # a statement without a result
        return 0
    if args.format == "table" and not args.output:
        rel.show(max_rows=args.max_rows, max_width=200)
        return 0
    try:
        result = rel.to_arrow_table()
    except duckdb.Error as e:
        raise QueryError(f"{e}") from None
    _write(result, args.format, args.output)
    return 0


def _sources(args: argparse.Namespace) -> list[tuple[ResultStore, str | None]]:
    """(store, run id or None for every run) pairs the query covers."""
    from launcher.config import ConfigError
    from launcher.run import find_run
    from store import open_store

    if args.store:
        store = open_store(
            args.store, endpoint=args.endpoint, region=args.region, path_style=not args.virtual_host
        )
        return [(store, None if args.all else args.args[0])]
    if args.all:
        root = Path(args.runs_root)
        run_dirs = sorted(d for d in root.glob("*") if (d / "manifest.json").is_file())
        if not run_dirs:
            raise ConfigError(f"no runs under {root.resolve()} (set --runs-root, or --store URI)")
        return [(_run_store(d, args), d.name) for d in run_dirs]
    paths = find_run(args.args[0], args.runs_root)
    return [(_run_store(paths.run_dir, args), paths.run_id)]


def _run_store(run_dir: Path, args: argparse.Namespace) -> ResultStore:
    """The store a run's config names (``store.*`` in config.yaml), default RUN_DIR/tables;
    ``--endpoint``/``--region``/``--virtual-host`` replace the config's S3 settings."""
    from dataclasses import replace

    from launcher.config import load_config
    from store.open import StoreConfig

    path = run_dir / "config.yaml"
    sc = load_config([path]).store if path.is_file() else StoreConfig()
    sc = replace(sc, s3_endpoint=args.endpoint or sc.s3_endpoint,
                 s3_region=args.region or sc.s3_region,
                 s3_path_style=sc.s3_path_style and not args.virtual_host)  # fmt: skip
    return sc.open(run_dir / "tables")


def _write(result: pa.Table, fmt: str, output: str) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if fmt == "parquet":
        pq.write_table(result, output)
        return
    if fmt == "csv":
        if output:
            pacsv.write_csv(result, output)
        else:
            pacsv.write_csv(result, sys.stdout.buffer)
            sys.stdout.flush()
        return
    if fmt == "json":
        text = json.dumps(result.to_pylist(), default=_json_default, indent=1) + "\n"
    else:  # table into a file
        text = _text_table(result.column_names, result.to_pylist())
    if output:
        Path(output).write_text(text)
    else:
        sys.stdout.write(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _text_table(names: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    cells = [[str(n) for n in names]] + [
        ["" if r[n] is None else str(r[n]) for n in names] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(names))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"
