"""``archlab sql RUN "SELECT ..."``: DuckDB over a run's Parquet tables."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sql",
        help="run a DuckDB SQL query over a run's tables",
        description=(
            "Views: candidates, trials, epochs, llm_calls, experiences, events. "
            "RUN is a run id under --runs-root or a run directory."
        ),
    )
    p.add_argument("run", metavar="RUN", help="run id (under --runs-root) or run directory")
    p.add_argument(
        "query", metavar="SQL", help='e.g. "SELECT state, count(*) FROM trials GROUP BY 1"'
    )
    p.add_argument("--runs-root", default="runs", help="where run directories live (default: runs)")
    p.set_defaults(func=run_sql)


def run_sql(args: argparse.Namespace) -> int:
    import duckdb

    from launcher.config import ConfigError
    from launcher.run import find_run
    from store import LocalResultStore, connect

    paths = find_run(args.run, args.runs_root)
    con = connect(LocalResultStore(paths.tables), paths.run_id)
    try:
        rel = con.sql(args.query)
    except duckdb.Error as e:
        raise ConfigError(f"SQL error: {e}") from None
    if rel is None:
        return 0
    rel.show(max_rows=100, max_width=200)
    return 0
