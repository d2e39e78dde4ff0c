"""Empty tables stay queryable by any Parquet reader.

A run that never wrote, say, ``llm_calls`` has no file under ``llm_calls/run_id=<run>/``;
archlab's own views cover that (:func:`store.catalog.empty_select`), but plain DuckDB on
``llm_calls/*/*.parquet`` fails with "No files found". :func:`write_schema_files` writes
one zero-row file with the table's schema where a run's table has none (named after a fixed
key, so writing it twice replaces it). ``archlab compact`` calls it after compacting.
"""

from __future__ import annotations

from store.layout import part_name_for_key, partition_key
from store.result_store import ResultStore, _serialize
from store.schemas import TABLES, to_table

__all__ = ["SCHEMA_KEY", "write_schema_files"]

SCHEMA_KEY = "schema"  # the empty file is part-key-schema.parquet


def write_schema_files(store: ResultStore, run_id: str) -> list[str]:
    """Write a zero-row file with the schema for each table of ``run_id`` that has no file;
    returns the tables written."""
    written = []
    for table in TABLES:
        if store.files(table, run_id):
            continue
        key = f"{partition_key(table, run_id)}/{part_name_for_key(SCHEMA_KEY)}"
        store._put(key, _serialize(table, to_table(table, [])))
        written.append(table)
    return written
