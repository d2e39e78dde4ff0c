"""Append-only Parquet tables of one or many runs.

Layout (local directory; the S3 backend mirrors it under ``s3://bucket/prefix``)::

    {root}/{table}/run_id={run_id}/part-{unix_ns}-{uuid}.parquet

Contract: every append writes a new, uniquely named file; it becomes visible atomically
(written to a hidden temporary name, fsynced, then renamed), so a reader never sees a
partial file and concurrent appenders never clobber each other.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from store.schemas import TABLES, to_table

__all__ = ["LocalResultStore"]


class LocalResultStore:
    """Result store on a local (or shared) directory.

    >>> s = LocalResultStore("/tmp/x")                    # doctest: +SKIP
    >>> s.append("trials", "run1", [record.to_row()])      # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def uri(self) -> str:
        return str(self.root)

    def partition(self, table: str, run_id: str) -> Path:
        return self.root / table / f"run_id={run_id}"

    def append(self, table: str, run_id: str, rows: list[dict[str, Any]]) -> str | None:
        """Append rows to ``table`` of ``run_id``; returns the new file's path (None if no rows)."""
        if not rows:
            return None
        data = to_table(table, rows)
        part = self.partition(table, run_id)
        part.mkdir(parents=True, exist_ok=True)
        name = f"part-{time.time_ns()}-{uuid.uuid4().hex[:12]}.parquet"
        tmp = part / f".tmp-{name}"
        with open(tmp, "wb") as fh:
            pq.write_table(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, part / name)
        return str(part / name)

    def files(self, table: str, run_id: str | None = None) -> list[Path]:
        base = self.partition(table, run_id) if run_id else self.root / table
        return sorted(p for p in base.rglob("part-*.parquet"))

    def read(self, table: str, run_id: str | None = None) -> pa.Table:
        """All rows of ``table`` (of one run, or all runs), with the explicit schema."""
        files = self.files(table, run_id)
        schema = TABLES[table]
        if not files:
            return schema.empty_table()
        return pa.concat_tables([pq.read_table(f, schema=schema) for f in files])
