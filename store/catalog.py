"""DuckDB views over a result store: one view per table, for one run, some runs or all runs.

Every view has exactly the table's schema (older files gain null columns, an empty table is
an empty view with the right columns, so queries always bind) plus ``run_id`` (VARCHAR, from
the Hive partition). Views list the visible files explicitly (see :mod:`store.layout`), so
a query never counts a row twice while a compaction runs. S3 stores are read natively by
DuckDB's httpfs extension, with credentials in a temporary in-memory secret.

Example::

    >>> con = connect(open_store("runs/r1/tables"), "r1")               # doctest: +SKIP
    >>> con.sql("SELECT state, count(*) FROM trials GROUP BY 1").show()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from store.schemas import TABLES

if TYPE_CHECKING:
    import duckdb

    from store.result_store import ResultStore

__all__ = ["confine", "connect", "connect_sources", "duck_type", "empty_select"]


def connect(
    store: ResultStore,
    run_id: str | Sequence[str] | None = None,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (new in-memory one, or ``con``) with a view per table
    (``candidates``, ``trials``, ``epochs``, ``llm_calls``, ``experiences``, ``events``).

    ``run_id``: one run id, a list of them, or None for every run in the store.
    """
    return connect_sources([(store, run_id)], con=con)


def connect_sources(
    sources: Sequence[tuple[ResultStore, str | Sequence[str] | None]],
    *,
    con: duckdb.DuckDBPyConnection | None = None,
) -> duckdb.DuckDBPyConnection:
    """Like :func:`connect` over several ``(store, run_id)`` pairs at once (e.g. every run
    directory under ``runs/``, each with its own tables): the views are their union."""
    import duckdb

    if con is None:
        con = duckdb.connect(":memory:")
    seen: dict[str, int] = {}
    for store, _ in sources:
        if store.uri not in seen:
            seen[store.uri] = len(seen)
            store._duckdb_setup(con, f"archlab_store_{seen[store.uri]}")
    for table in TABLES:
        files = [f for store, run_id in sources for f in store.files(table, run_id)]
        empty = empty_select(table)
        if files:
            listing = ", ".join(_sql_str(f) for f in files)
            sql = (
                f"SELECT * FROM read_parquet([{listing}], hive_partitioning = true, "
                f"hive_types = {{'run_id': VARCHAR}}, union_by_name = true) "
                f"UNION ALL BY NAME {empty}"
            )
        else:
            sql = empty
        con.execute(f'CREATE OR REPLACE VIEW "{table}" AS {sql}')
    return con


def confine(con: duckdb.DuckDBPyConnection, stores: Sequence[ResultStore]) -> None:
    """Limit ``con`` to reading ``stores``' own files, for good: no file, URL or database
    outside them can be read, written or attached, no extension installed or loaded, and
    the configuration is locked (a later ``SET`` fails). Call it after the views exist."""
    prefixes = sorted({store.uri.rstrip("/") + "/" for store in stores})
    con.execute(f"SET allowed_directories = [{', '.join(_sql_str(p) for p in prefixes)}]")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def empty_select(table: str) -> str:
    """``SELECT`` of zero rows with the table's columns and types, plus ``run_id``."""
    cols = ", ".join(f'CAST(NULL AS {duck_type(f.type)}) AS "{f.name}"' for f in TABLES[table])
    return f"SELECT {cols}, CAST(NULL AS VARCHAR) AS run_id WHERE false"


def duck_type(t: pa.DataType) -> str:
    """The DuckDB type of an Arrow type used in the schemas."""
    simple = {
        pa.string(): "VARCHAR",
        pa.float64(): "DOUBLE",
        pa.float32(): "FLOAT",
        pa.int64(): "BIGINT",
        pa.int32(): "INTEGER",
        pa.bool_(): "BOOLEAN",
    }
    if t in simple:
        return simple[t]
    if pa.types.is_list(t):
        return f"{duck_type(t.value_type)}[]"
    raise TypeError(f"no DuckDB type for Arrow type {t}")


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
