"""Result store: Parquet tables with explicit schemas, DuckDB catalog, experience pool.

Never imports ``nas``.
"""

from store.catalog import connect
from store.result_store import LocalResultStore
from store.schemas import SCHEMA_VERSION, TABLES

__all__ = ["SCHEMA_VERSION", "TABLES", "LocalResultStore", "connect"]
