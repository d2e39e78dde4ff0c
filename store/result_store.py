"""Append-only Parquet tables of one or many runs, on a local directory or S3.

:class:`ResultStore` owns the flow (naming, visibility, schema checks, compaction, retries);
a backend fills five small hooks (list, put, get, delete, url). Layout and the visibility
rule are in :mod:`store.layout`.

Contract (tested against every backend by ``tests/contract/test_store_contract.py``):

* ``append`` writes one new, uniquely named Parquet file that becomes visible atomically
  (local: temporary name, fsync, rename; S3: a single PUT is atomic), so a reader never
  sees a partial file and appends from many processes never clobber each other. With
  ``key=...`` the file name is derived from the key, so retrying the same append after a
  crash or a lost response replaces the file instead of duplicating its rows.
* ``read`` returns rows with the table's explicit schema (older files gain null columns,
  files of a newer schema version raise :class:`~store.schemas.SchemaVersionError`); it
  re-lists and retries if a compaction removes a file under it, so it is idempotent.
* ``compact(run_id)`` merges a run's small files per table; rows are preserved and no
  reader of archlab counts a row twice while it runs (see :mod:`store.layout`).

Example::

    >>> s = LocalResultStore("/tmp/archlab-doc")                    # doctest: +SKIP
    >>> s.append("trials", "run1", [trial.to_row()])                # doctest: +SKIP
    >>> s.read("trials", "run1").num_rows                           # doctest: +SKIP
    >>> s.query("SELECT count(*) FROM trials", run_id="run1")       # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import pyarrow as pa
import pyarrow.parquet as pq

from store.layout import (
    CompactionMarker,
    ObjectInfo,
    check_run_id,
    is_marker,
    marker_name,
    new_part_name,
    part_name_for_key,
    partition_key,
    visible_parts,
)
from store.retry import OutageListener, WriteRetry, call_with_retry, is_transient
from store.schemas import SCHEMA_VERSION, TABLES, conform, schema_for, to_table

if TYPE_CHECKING:
    import duckdb
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

__all__ = ["CompactionResult", "LocalResultStore", "ResultStore"]

Rows: TypeAlias = Sequence[Mapping[str, Any]] | pa.Table

#: Files at least half this size are left alone by compaction; merged files stay below it.
DEFAULT_TARGET_BYTES = 128 * 1024 * 1024
#: A compaction marker (or a local temporary file) older than this is from a crashed writer.
STALE_AFTER_S = 3600.0
#: Top-level folder (not a table) where unreadable part files are moved, each with a note.
CORRUPT_DIR = "_corrupt"


@dataclass(frozen=True)
class CompactionResult:
    """What ``compact`` did to one table of one run."""

    table: str
    run_id: str
    files_before: int
    files_after: int
    rows: int  # rows in the partition (unchanged by compaction)
    skipped: str = ""  # why nothing was merged, if so (e.g. another compaction was running)


class ResultStore(ABC):
    """Parquet tables ``{table}/run_id=.../part-*.parquet`` under one root.

    Use :func:`open_store` to get one from a URI. Subclasses implement ``_list``, ``_put``,
    ``_get``, ``_delete`` and ``_url`` (and ``_duckdb_setup`` / ``arrow_filesystem`` for
    remote backends); the flow is here.
    """

    #: Threads used to read or fetch many files at once.
    io_threads: int = 8
    #: How a write that failed transiently is tried again (store/retry.py); set per store.
    write_retry: WriteRetry = WriteRetry()
    #: Who hears about an outage while a write waits (the controller's status file).
    outage_listener: OutageListener | None = None

    # ----------------------------------------------------------------- backend hooks
    @property
    @abstractmethod
    def uri(self) -> str:
        """The store's root as a user would write it (a path or ``s3://bucket/prefix``)."""

    @abstractmethod
    def _list(self, prefix: str) -> list[ObjectInfo]:
        """Every object under ``prefix`` (a key relative to the root, no trailing slash)."""

    @abstractmethod
    def _put(self, key: str, data: bytes) -> None:
        """Create or replace ``key`` atomically: readers see the old object, or all of ``data``."""

    @abstractmethod
    def _get(self, key: str) -> bytes:
        """The object's bytes; ``FileNotFoundError`` if it does not exist."""

    @abstractmethod
    def _delete(self, keys: Sequence[str]) -> None:
        """Delete objects; missing ones are ignored."""

    @abstractmethod
    def _url(self, key: str) -> str:
        """What DuckDB and pyarrow open for ``key`` (a local path or an ``s3://`` URL)."""

    def _read_parquet(self, key: str) -> pa.Table:
        return pq.read_table(io.BytesIO(self._get(key)))

    def _duckdb_setup(self, con: duckdb.DuckDBPyConnection, name: str = "archlab_store") -> None:
        """Make ``con`` able to read this store's URLs (extensions, in-memory credentials
        under the secret ``name``)."""
        return None  # local files need nothing

    @abstractmethod
    def arrow_filesystem(self) -> pafs.FileSystem:
        """A pyarrow filesystem on which :meth:`files` paths (without scheme) open."""

    # ----------------------------------------------------------------- writing
    def append(self, table: str, run_id: str, rows: Rows, *, key: str | None = None) -> str | None:
        """Append ``rows`` (dicts from ``Record.to_row()``, or an Arrow table with a subset of the
        columns) to ``table`` of ``run_id`` as one new file; returns its URL (None if no rows).

        ``key`` (letters, digits, ``._-``) makes the append idempotent: the file is named after
        it, so a retry replaces the file instead of adding the rows again. Use one key per
        logical write, e.g. ``f"{candidate_id}-a{attempt}"``. (A retry after the run was
        compacted does add the rows again.)
        """
        data = to_table(table, rows)
        if data.num_rows == 0:
            return None
        name = part_name_for_key(key) if key else new_part_name()
        k = f"{partition_key(table, run_id)}/{name}"
        body = _serialize(table, data)
        # one object under one name: a retry replaces, never adds (see store/retry.py)
        call_with_retry(
            lambda: self._put(k, body),
            self.write_retry,
            what=k,
            listener=self.outage_listener,
            transient=self._transient,
        )
        return self._url(k)

    def keys(self, table: str, run_id: str, prefix: str = "") -> list[str]:
        """The idempotency keys (starting with ``prefix``) of ``table``/``run_id`` files that
        are still separate files (not yet merged by a compaction), sorted."""
        head = part_name_for_key(prefix + "x")[: -len("x.parquet")]
        out = []
        for o in self._visible(table, run_id):
            if o.name.startswith(head) and o.name.endswith(".parquet"):
                out.append(o.name[len("part-key-") : -len(".parquet")])
        return sorted(out)

    def discard(self, table: str, run_id: str, keys: Sequence[str]) -> None:
        """Delete the files appended with ``keys`` (writes a restarted writer will not repeat:
        e.g. a step cut short by a kill before it was journaled). Missing keys are ignored."""
        base = partition_key(table, run_id)
        self._delete([f"{base}/{part_name_for_key(k)}" for k in keys])

    def discard_newer(
        self, table: str, run_id: str, after: float, column: str = "created_at"
    ) -> int:
        """Delete the keyed, not yet merged files of ``table``/``run_id`` whose rows were all
        made after ``after`` (``column``, unix seconds): rows of a writer's step that its
        journal never recorded. Returns how many files were deleted."""
        gone = []
        for o in self._visible(table, run_id):
            if not o.name.startswith("part-key-"):
                continue
            try:
                t = self._read_parquet(o.key).column(column).to_pylist()
            except FileNotFoundError:
                continue
            if t and all(v is not None and float(v) > after for v in t):
                gone.append(o.key)
        self._delete(gone)
        return len(gone)

    def _transient(self, exc: BaseException) -> bool:
        """Whether a failed write may succeed later (backends may widen this)."""
        return is_transient(exc)

    # ----------------------------------------------------------------- reading
    def runs(self, table: str | None = None) -> list[str]:
        """Run ids that have at least one file (in ``table``, or in any table), sorted."""
        found: set[str] = set()
        for t in [table] if table else list(TABLES):
            schema_for(t)
            found.update(o.run_id for o in self._visible(t, None))
        return sorted(found)

    def files(self, table: str, run_id: str | Sequence[str] | None = None) -> list[str]:
        """URLs (paths) of the visible part files of ``table`` for one run, some runs, or all."""
        return [self._url(o.key) for o in self._visible(table, run_id)]

    def read(
        self,
        table: str,
        run_id: str | Sequence[str] | None = None,
        *,
        columns: Sequence[str] | None = None,
        retries: int = 5,
    ) -> pa.Table:
        """All rows of ``table`` (one run, some runs, or all runs) with the explicit schema plus a
        trailing ``run_id`` column, ordered by file name (creation time) then row.

        Re-lists and retries when a file disappears under it (a concurrent compaction).
        """
        schema = schema_for(table)
        for attempt in range(retries + 1):
            objs = self._visible(table, run_id)
            try:
                parts = self._map(lambda o: self._read_conformed(table, o), objs)
            except FileNotFoundError:
                if attempt == retries:
                    raise
                time.sleep(0.05 * 2**attempt)
                continue
            out = pa.concat_tables(parts) if parts else _with_run_id(schema.empty_table(), "")
            return out.select(list(columns)) if columns else out
        raise AssertionError("unreachable")  # pragma: no cover

    def unreadable(self, run_id: str) -> list[tuple[str, str]]:
        """``(key, reason)`` of each visible part file of ``run_id`` (every table) whose
        Parquet footer cannot be read (a truncated or overwritten file). Reads footers only."""
        bad: list[tuple[str, str]] = []
        for table in TABLES:
            for o in self._visible(table, run_id):
                try:
                    self._num_rows(o.key)
                except FileNotFoundError:
                    continue  # compacted away meanwhile
                except (pa.ArrowException, ValueError, OSError) as e:
                    bad.append((o.key, f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"))
        return bad

    def set_aside_unreadable(self, run_id: str) -> list[tuple[str, str]]:
        """Move each :meth:`unreadable` file of ``run_id`` to ``_corrupt/<key>`` with a note
        ``_corrupt/<key>.note.txt`` (why, when); the rows in it are no longer read (a result
        lost this way is evaluated again on resume). Returns what was moved."""
        moved = self.unreadable(run_id)
        for key, why in moved:
            note = (
                f"{key} was moved here by archlab at {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                f"its Parquet footer cannot be read ({why}).\n"
            )
            self._put(f"{CORRUPT_DIR}/{key}", self._get(key))
            self._put(f"{CORRUPT_DIR}/{key}.note.txt", note.encode("utf-8"))
            self._delete([key])
        return moved

    def _read_conformed(self, table: str, obj: ObjectInfo) -> pa.Table:
        return _with_run_id(
            conform(table, self._read_parquet(obj.key), self._url(obj.key)), obj.run_id
        )

    def dataset(self, table: str, run_id: str | Sequence[str] | None = None) -> ds.Dataset:
        """A pyarrow dataset over the visible files, with the table's explicit schema."""
        import pyarrow.dataset as ds

        fs = self.arrow_filesystem()
        paths = [_strip_scheme(u) for u in self.files(table, run_id)]
        return ds.dataset(paths, schema=schema_for(table), format="parquet", filesystem=fs)

    def connect(self, run_id: str | Sequence[str] | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with one view per table; see :func:`store.catalog.connect`."""
        from store.catalog import connect

        return connect(self, run_id)

    def query(self, sql: str, run_id: str | Sequence[str] | None = None) -> pa.Table:
        """Run ``sql`` over the views of one run, some runs, or all runs; the result as Arrow."""
        con = self.connect(run_id)
        try:
            return con.sql(sql).to_arrow_table()
        finally:
            con.close()

    # ----------------------------------------------------------------- compaction
    def compact(
        self,
        run_id: str,
        tables: Sequence[str] | None = None,
        *,
        target_bytes: int = DEFAULT_TARGET_BYTES,
    ) -> list[CompactionResult]:
        """Merge the small files of each table of ``run_id`` into as few files as possible
        (each below ``target_bytes``); rows and their order by file are preserved.

        Safe against readers (they never see a row twice or miss one) and against crashes
        (the next ``compact`` finishes or discards what a crashed one left). Two compactions
        of one run at once: one proceeds, the other returns ``skipped`` for that table.
        """
        check_run_id(run_id)
        return [self._compact_table(t, run_id, target_bytes) for t in (tables or list(TABLES))]

    def _compact_table(self, table: str, run_id: str, target_bytes: int) -> CompactionResult:
        schema_for(table)
        base = partition_key(table, run_id)
        self._recover(base)
        objs = self._visible(table, run_id)
        before = len(objs)
        small = [o for o in objs if o.size < target_bytes // 2]
        bins: list[list[ObjectInfo]] = []
        size = 0
        for o in small:
            if not bins or size + o.size > target_bytes:
                bins.append([])
                size = 0
            bins[-1].append(o)
            size += o.size
        skipped = ""
        for group in (b for b in bins if len(b) >= 2):
            skipped = self._merge(table, base, group) or skipped
        after = self._visible(table, run_id)
        rows = sum(self._num_rows(o.key) for o in after) if after else 0
        return CompactionResult(table, run_id, before, len(after), rows, skipped)

    def _merge(self, table: str, base: str, group: list[ObjectInfo]) -> str:
        """Merge ``group`` (files of one partition) into one file; returns a skip reason or ""."""
        merged = new_part_name(_part_ts(group[0].name))
        marker = CompactionMarker(merged, tuple(o.name for o in group))
        mkey = f"{base}/{marker_name(merged)}"
        self._put(mkey, marker.to_json())  # 1. announce the intent
        try:
            claimed = set(marker.replaced)
            for other_key, other in self._markers(base).items():  # 2. did anyone else claim them?
                if other_key != mkey and claimed & set(other.replaced):
                    self._delete([mkey])
                    return f"another compaction holds {other_key}"
            data = pa.concat_tables(self._map(lambda o: self._read_conformed(table, o), group))
            data = data.drop_columns(["run_id"])
            self._get(mkey)  # 3. still ours (not discarded as stale)? raises if not
            self._put(f"{base}/{merged}", _serialize(table, data))  # 4. publish (hides sources)
        except FileNotFoundError:  # a source vanished: someone else compacted it
            self._delete([mkey])
            return "files changed during compaction"
        except BaseException:
            self._delete([mkey])
            raise
        self._delete([o.key for o in group])  # 5. remove the sources, then the marker
        self._delete([mkey])
        return ""

    def _recover(self, base: str, stale_after_s: float = STALE_AFTER_S) -> None:
        """Finish compactions that crashed after publishing; discard abandoned unpublished ones
        (their process is gone from this host, or they are older than ``stale_after_s``)."""
        listing = self._list(base)
        names = {o.name for o in listing}
        for mkey, m in self._markers(base, listing).items():
            if m.merged in names:
                self._delete([f"{base}/{r}" for r in m.replaced if r in names])
                self._delete([mkey])
            elif m.is_abandoned(stale_after_s):
                self._delete([mkey])

    # ----------------------------------------------------------------- helpers
    def _visible(self, table: str, run_id: str | Sequence[str] | None) -> list[ObjectInfo]:
        if run_id is None:
            prefixes = [table]
        elif isinstance(run_id, str):
            prefixes = [partition_key(table, run_id)]
        else:
            prefixes = [partition_key(table, r) for r in run_id]
        out: list[ObjectInfo] = []
        for prefix in prefixes:
            listing = self._list(prefix)
            out.extend(visible_parts(listing, self._markers(prefix, listing)))
        return out

    def _markers(
        self, prefix: str, listing: list[ObjectInfo] | None = None
    ) -> dict[str, CompactionMarker]:
        listing = self._list(prefix) if listing is None else listing
        out: dict[str, CompactionMarker] = {}
        for o in listing:
            if is_marker(o.name):
                try:
                    out[o.key] = CompactionMarker.from_json(self._get(o.key))
                except (FileNotFoundError, ValueError, KeyError):
                    continue  # deleted meanwhile, or written by something else
        return out

    def _num_rows(self, key: str) -> int:
        return int(pq.ParquetFile(io.BytesIO(self._get(key))).metadata.num_rows)

    def _map(self, fn: Any, items: Sequence[Any]) -> list[Any]:
        if len(items) <= 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(min(self.io_threads, len(items))) as pool:
            return list(pool.map(fn, items))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"


class LocalResultStore(ResultStore):
    """Result store on a local or shared (NFS, Lustre, GPFS) directory.

    >>> s = LocalResultStore("/tmp/x")                    # doctest: +SKIP
    >>> s.append("trials", "run1", [record.to_row()])      # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()

    @property
    def uri(self) -> str:
        return str(self.root)

    def partition(self, table: str, run_id: str) -> Path:
        return self.root / partition_key(table, run_id)

    def _path(self, key: str) -> Path:
        return self.root / key

    def _list(self, prefix: str) -> list[ObjectInfo]:
        top = self._path(prefix)
        out: list[ObjectInfo] = []
        for dirpath, _dirs, names in os.walk(top):
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            for n in names:
                if n.startswith("."):
                    continue  # temporary files of writes in flight
                try:
                    st = os.stat(os.path.join(dirpath, n))
                except FileNotFoundError:
                    continue
                out.append(ObjectInfo(f"{rel}/{n}", st.st_size, st.st_mtime))
        return out

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    def _get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def _read_parquet(self, key: str) -> pa.Table:
        return pq.read_table(self._path(key))

    def _num_rows(self, key: str) -> int:
        return int(pq.ParquetFile(self._path(key)).metadata.num_rows)

    def _delete(self, keys: Sequence[str]) -> None:
        for k in keys:
            self._path(k).unlink(missing_ok=True)

    def _url(self, key: str) -> str:
        return str(self._path(key))

    def _recover(self, base: str, stale_after_s: float = STALE_AFTER_S) -> None:
        super()._recover(base, stale_after_s)
        part = self._path(base)
        if part.is_dir():  # temporary files of writers that crashed long ago
            for tmp in part.glob(".*.tmp"):
                try:
                    if time.time() - tmp.stat().st_mtime > stale_after_s:
                        tmp.unlink()
                except FileNotFoundError:
                    pass

    def arrow_filesystem(self) -> pafs.FileSystem:
        import pyarrow.fs as pafs

        return pafs.LocalFileSystem()


def _serialize(table: str, data: pa.Table) -> bytes:
    meta = {
        b"archlab.table": table.encode(),
        b"archlab.schema_version": str(SCHEMA_VERSION).encode(),
    }
    data = data.replace_schema_metadata({**(data.schema.metadata or {}), **meta})
    buf = io.BytesIO()
    pq.write_table(data, buf, compression="zstd")
    return buf.getvalue()


def _with_run_id(data: pa.Table, run_id: str) -> pa.Table:
    return data.append_column(
        pa.field("run_id", pa.string()), pa.array([run_id] * data.num_rows, pa.string())
    )


def _part_ts(name: str) -> int | None:
    digits = name.removeprefix("part-").split("-", 1)[0]
    return int(digits) if digits.isdigit() and len(digits) == 20 else None


def _strip_scheme(url: str) -> str:
    return url.removeprefix("s3://")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
