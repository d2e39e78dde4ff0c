"""Result store: Parquet tables with explicit schemas on a directory or S3, DuckDB catalog,
experience pool (hnswlib). Never imports ``nas``; boto3, hnswlib and embedding models are
imported where they are used.

    >>> store = open_store("runs/r1/tables")            # or "s3://bucket/prefix", endpoint=...
    >>> store.append("trials", "r1", [record.to_row()])  # doctest: +SKIP
    >>> store.query("SELECT max(val_acc) FROM trials", run_id="r1")  # doctest: +SKIP
"""

from store.catalog import connect
from store.embedders import (
    Embedder,
    HashingEmbedder,
    LocalModelEmbedder,
    OpenAIEmbedder,
    make_embedder,
)
from store.experience import ExperiencePool, Hit
from store.open import open_store
from store.result_store import CompactionResult, LocalResultStore, ResultStore
from store.schemas import SCHEMA_VERSION, TABLES, SchemaVersionError, schema_for

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "CompactionResult",
    "Embedder",
    "ExperiencePool",
    "HashingEmbedder",
    "Hit",
    "LocalModelEmbedder",
    "LocalResultStore",
    "OpenAIEmbedder",
    "ResultStore",
    "SchemaVersionError",
    "connect",
    "make_embedder",
    "open_store",
    "schema_for",
]
