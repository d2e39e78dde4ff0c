"""DuckDB views over a result store: one view per table, for one run or all runs."""

from __future__ import annotations

from pathlib import Path

import duckdb

from store.result_store import LocalResultStore
from store.schemas import TABLES

__all__ = ["connect"]


def connect(store: LocalResultStore, run_id: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view per table (``trials``, ``candidates``, ...).

    With ``run_id`` the views cover that run only; otherwise every run, with ``run_id`` as
    a column taken from the Hive partition.
    """
    con = duckdb.connect(":memory:")
    for table, schema in TABLES.items():
        pattern = (
            Path(store.root)
            / table
            / (f"run_id={run_id}" if run_id else "run_id=*")
            / "part-*.parquet"
        )
        if store.files(table, run_id):
            con.execute(
                f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{pattern}', "
                "hive_partitioning=true, union_by_name=true)"
            )
        else:  # an empty view with the right columns, so queries still bind
            cols = ", ".join(f'CAST(NULL AS {_duck_type(f.type)}) AS "{f.name}"' for f in schema)
            con.execute(
                f"CREATE VIEW {table} AS SELECT {cols}, CAST(NULL AS VARCHAR) AS run_id WHERE false"
            )
    return con


def _duck_type(t: object) -> str:
    import pyarrow as pa

    if t == pa.string():
        return "VARCHAR"
    if t == pa.float64():
        return "DOUBLE"
    if t == pa.int64():
        return "BIGINT"
    if t == pa.int32():
        return "INTEGER"
    if t == pa.bool_():
        return "BOOLEAN"
    return "VARCHAR[]"
