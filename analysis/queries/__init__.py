"""Named SQL queries over a run's tables, shipped as ``*.sql`` files beside this module.

Each ``NAME.sql`` holds one ``SELECT`` over the store's views (``candidates``, ``trials``,
``epochs``, ``llm_calls``, ``experiences``, ``events``) and the helper views of
``_views.sql`` (``trial_results``: one row per evaluated candidate, its latest attempt,
joined with the candidate, with ``eval_index`` = arrival order; ``best_so_far_curve``).
Every query carries ``run_id``, so it runs over one run or several.

    >>> import duckdb
    >>> con = run.connect()                        # doctest: +SKIP  (store views)
    >>> install_views(con)                         # doctest: +SKIP
    >>> con.sql(load("leaderboard")).show()        # doctest: +SKIP
    >>> names()[:3]
    ['best_so_far', 'failures_by_kind', 'failures_by_proposer']
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

__all__ = ["QUERY_DIR", "fetch", "install_views", "load", "names"]

QUERY_DIR = Path(__file__).resolve().parent
_VIEWS = "_views"


def names() -> list[str]:
    """The named queries, sorted (file stems of ``analysis/queries/*.sql``)."""
    return sorted(p.stem for p in QUERY_DIR.glob("*.sql") if not p.stem.startswith("_"))


def load(name: str) -> str:
    """The SQL text of the named query ``name``; an unknown name lists the known ones."""
    path = QUERY_DIR / f"{name}.sql"
    if name.startswith("_") or "/" in name or not path.is_file():
        raise KeyError(f"unknown query {name!r}; named queries are: {', '.join(names())}")
    return path.read_text(encoding="utf-8")


def install_views(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Create the helper views (temporary, per connection) the named queries use."""
    con.execute((QUERY_DIR / f"{_VIEWS}.sql").read_text(encoding="utf-8"))
    return con


def fetch(con: duckdb.DuckDBPyConnection, name_or_sql: str) -> list[dict[str, Any]]:
    """Rows (dicts) of a named query, or of SQL text when the argument contains a space."""
    sql = name_or_sql if " " in name_or_sql.strip() else load(name_or_sql)
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description or []]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
