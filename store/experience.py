"""The experience pool: lessons the agents learned, retrieved by embedding similarity.

Texts, metadata and the raw vectors live in the store's ``experiences`` table (the source
of truth, any backend). The hnswlib index in ``index_dir`` is a cache: saved as a new file
plus a JSON of its parameters and labels (each written to a temporary name, then renamed;
the JSON is the commit point), and rebuilt when missing, unreadable or stale (other
parameters or embedder, or ids that the store does not hold). Rows the cache lacks (added
by another process) are added to it on open.

One writer at a time touches the index (a thread lock in the process, a file lock around
saving); ``add`` grows the capacity before the index fills; ``k`` is clamped to the live
items that pass the filter. Scores are cosine similarities (1 = same direction).

Example::

    >>> pool = ExperiencePool(store, "r1", HashingEmbedder(), "runs/r1/experience")  # doctest: +SKIP
    >>> pool.add("1x1 conv after concat fixes the channel mismatch", "shape mismatch", "fail2success")
    ...                                                                     # doctest: +SKIP
    >>> pool.query("channel mismatch after concat", k=5, where={"category": "shape mismatch"})
    ...                                                                     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from store.embedders import Embedder

if TYPE_CHECKING:
    from store.result_store import ResultStore

__all__ = ["ExperiencePool", "Hit"]

INDEX_FORMAT = 1
_FIELDS = ("category", "kind", "candidate_id")


@dataclass(frozen=True)
class Hit:
    """One retrieved experience; ``score`` is the cosine similarity to the query."""

    id: str
    text: str
    score: float
    category: str
    kind: str
    metadata: dict[str, Any] = field(default_factory=dict)
    candidate_id: str | None = None


class ExperiencePool:
    """Experiences of one run: ``add`` writes to the store and the index, ``query`` returns
    the top-k by cosine similarity with optional ``where`` filters.

    ``where`` maps ``category``, ``kind``, ``candidate_id`` or a metadata key (optionally
    written ``metadata.KEY``) to a value or a list of accepted values.

    Index parameters: ``M`` and ``ef_construction`` (graph quality), ``ef_search`` (query
    breadth, raised to k when smaller), ``seed``; ``save_every`` adds between automatic
    saves (``close``/``flush`` save too); filters that leave at most ``exact_below`` items
    are answered exactly by a scan of the stored vectors.
    """

    def __init__(
        self,
        store: ResultStore,
        run_id: str,
        embedder: Embedder,
        index_dir: str | os.PathLike[str],
        *,
        M: int = 16,
        ef_construction: int = 200,
        ef_search: int = 64,
        seed: int = 0,
        initial_capacity: int = 1024,
        save_every: int = 256,
        exact_below: int = 512,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.embedder = embedder
        self.index_dir = Path(index_dir)
        self.params = {
            "format": INDEX_FORMAT,
            "embedder": embedder.name,
            "space": "cosine",
            "M": M,
            "ef_construction": ef_construction,
            "seed": seed,
        }
        self.ef_search = ef_search
        self.initial_capacity = initial_capacity
        self.save_every = save_every
        self.exact_below = exact_below
        self._lock = threading.RLock()
        self._dirty = 0
        self.rebuilt = False  # True if opening had to rebuild the index (for diagnostics)
        self._reset(0)
        self._open()

    # ----------------------------------------------------------------- public API
    def __len__(self) -> int:
        return self._n

    def add(
        self,
        text: str,
        category: str,
        kind: str,
        metadata: Mapping[str, Any] | None = None,
        candidate_id: str | None = None,
        key: str | None = None,
    ) -> str:
        """Store one experience and index it under ``key`` (default: its text); returns its
        id. NADER keys experience by the suggestion it was learned on, so that a new
        suggestion finds the tips of similar suggestions whatever words the tips use."""
        item = {"text": text, "category": category, "kind": kind, "metadata": metadata}
        return self.add_many([{**item, "candidate_id": candidate_id, "key": key}])[0]

    def add_many(self, items: Sequence[Mapping[str, Any]]) -> list[str]:
        """Store many experiences (dicts with ``text``, ``category``, ``kind`` and optional
        ``metadata``, ``candidate_id``, ``key`` — the text embedded for retrieval, kept as
        ``metadata.key``) as one file and index them; returns their ids."""
        if not items:
            return []
        for i, it in enumerate(items):
            if not str(it.get("text") or "").strip():
                raise ValueError(f"experience {i} has no text: give the lesson to remember")
        all_ids = [_experience_id(it) for it in items]
        with self._lock:  # idempotent: a lesson already stored (same content) is not added
            fresh = {eid: it for eid, it in zip(all_ids, items, strict=True)
                     if eid not in self._label}  # fmt: skip
        if not fresh:
            return all_ids
        ids, items = list(fresh), list(fresh.values())
        texts = [str(it["text"]) for it in items]
        keys = [str(it.get("key") or it["text"]) for it in items]
        raw = self._embed(keys)
        now = time.time()
        meta = [
            {**dict(it.get("metadata") or {}), **({"key": str(it["key"])} if it.get("key") else {})}
            for it in items
        ]
        rows = [
            {
                "experience_id": eid,
                "category": str(it.get("category") or ""),
                "kind": str(it.get("kind") or ""),
                "text": text,
                "metadata": json.dumps(m, sort_keys=True, default=str),
                "candidate_id": it.get("candidate_id"),
                "created_at": now,
                "embedder": self.embedder.name,
            }
            for eid, it, text, m in zip(ids, items, texts, meta, strict=True)
        ]
        data = _rows_with_vectors(rows, raw)
        key = "exp-" + hashlib.sha256("\x1f".join(ids).encode()).hexdigest()[:24]
        self.store.append("experiences", self.run_id, data, key=key)  # the source of truth first
        with self._lock:
            self._insert(ids, _normalize(raw), rows, meta)
            self._dirty += len(ids)
            if self._dirty >= self.save_every:
                self.save()
        return all_ids

    def query(self, text: str, k: int = 5, where: Mapping[str, Any] | None = None) -> list[Hit]:
        """The ``k`` most similar experiences (fewer if fewer match), best first."""
        q = _normalize(self._embed([text]))[0]
        return self.query_vector(q, k, where)

    def query_vector(
        self, vector: np.ndarray, k: int = 5, where: Mapping[str, Any] | None = None
    ) -> list[Hit]:
        """Like :meth:`query` for an already embedded (any scale) query vector."""
        q = _normalize(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
        with self._lock:
            if self._n == 0 or k <= 0:
                return []
            if where:
                allowed = self._match(where)
                if allowed.size == 0:
                    return []
                k = min(k, int(allowed.size))
                if allowed.size <= self.exact_below:
                    return self._exact(q, k, allowed)
                mask = np.zeros(self._n, bool)
                mask[allowed] = True
                try:
                    labels, dists = self._knn(q, k, lambda label: bool(mask[label]))
                except RuntimeError:  # the filtered graph walk found fewer than k
                    return self._exact(q, k, allowed)
            else:
                k = min(k, self._n)
                labels, dists = self._knn(q, k, None)
            return [
                self._hit(int(lab), 1.0 - float(d)) for lab, d in zip(labels, dists, strict=True)
            ]

    def rebuild(self) -> None:
        """Rebuild the index from the store (re-embedding rows of another embedder) and save it."""
        with self._lock:
            self._build(self._read_rows())
            self.save()

    def save(self) -> None:
        """Write the index and its parameters (temporary names, then rename)."""
        if self._index is None:
            return  # nothing indexed yet
        with self._lock, self._file_lock():
            self.index_dir.mkdir(parents=True, exist_ok=True)
            old = self._saved_index_file()
            name = f"index-{uuid.uuid4().hex[:12]}.bin"
            tmp = self.index_dir / f".{name}.tmp"
            self._index.save_index(str(tmp))
            os.replace(tmp, self.index_dir / name)
            meta = {
                **self.params,
                "dim": self._dim,
                "index_file": name,
                "ids": self._ids[: self._n],
            }
            _atomic_write(self.index_dir / "index.json", json.dumps(meta).encode())
            if old and old != name:
                (self.index_dir / old).unlink(missing_ok=True)
            self._dirty = 0

    flush = save

    def close(self) -> None:
        """Save if anything was added since the last save."""
        if self._dirty:
            self.save()

    def __enter__(self) -> ExperiencePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- opening
    def _open(self) -> None:
        rows = self._read_rows()
        cached = self._load_cache()
        store_ids = rows.column("experience_id").to_pylist()
        if cached is None or not set(cached[1]) <= set(store_ids):
            self._build(rows)
            self.rebuilt = True
            self.save()
            return
        index, ids, dim = cached
        self._reset(max(len(store_ids), 1), index=index, dim=dim)
        vecs = np.asarray(index.get_items(list(range(len(ids))), return_type="numpy"), np.float32)
        by_id = {eid: i for i, eid in enumerate(store_ids)}
        order = [by_id[eid] for eid in ids]
        self._append_meta(ids, vecs, rows.take(pa.array(order, pa.int64())))
        known = set(ids)
        missing = [i for i, eid in enumerate(store_ids) if eid not in known]
        if missing:
            sub = rows.take(pa.array(missing, pa.int64()))
            self._insert_rows(sub)
            self.save()

    def _read_rows(self) -> pa.Table:
        rows = self.store.read("experiences", self.run_id)
        if rows.num_rows:
            idx = pc.sort_indices(
                rows, sort_keys=[("created_at", "ascending"), ("experience_id", "ascending")]
            )
            rows = rows.take(idx)
        return rows

    def _load_cache(self) -> tuple[Any, list[str], int] | None:
        meta_path = self.index_dir / "index.json"
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None
        if any(meta.get(k) != v for k, v in self.params.items()):
            return None
        ids = meta.get("ids")
        path = self.index_dir / str(meta.get("index_file", ""))
        if not isinstance(ids, list) or not path.is_file():
            return None
        import hnswlib

        index = hnswlib.Index(space="cosine", dim=int(meta["dim"]))
        try:
            index.load_index(str(path), max_elements=max(len(ids) * 2, self.initial_capacity))
        except RuntimeError:
            return None
        if index.get_current_count() != len(ids):
            return None
        return index, [str(i) for i in ids], int(meta["dim"])

    def _saved_index_file(self) -> str | None:
        try:
            return str(json.loads((self.index_dir / "index.json").read_text())["index_file"])
        except (OSError, ValueError, KeyError):
            return None

    def _build(self, rows: pa.Table) -> None:
        self._reset(max(rows.num_rows, 1))
        self._insert_rows(rows)

    def _insert_rows(self, rows: pa.Table) -> None:
        """Index stored rows: their stored vectors if made by this embedder, else re-embedded."""
        if rows.num_rows == 0:
            return
        texts = rows.column("text").to_pylist()
        meta = [_loads(m) for m in rows.column("metadata").to_pylist()]
        keys = [str(m.get("key") or t) for m, t in zip(meta, texts, strict=True)]
        vecs, have = _stored_vectors(rows, self.embedder.name)
        todo = np.flatnonzero(~have)
        if todo.size:
            fresh = self._embed([keys[i] for i in todo])
            if vecs.shape[1] != fresh.shape[1]:
                vecs = np.zeros((len(texts), fresh.shape[1]), np.float32)
            vecs[todo] = fresh
        ids = rows.column("experience_id").to_pylist()
        self._insert(ids, _normalize(vecs), rows.select([*_FIELDS, "text"]).to_pylist(), meta)

    # ----------------------------------------------------------------- index internals
    def _reset(self, capacity: int, index: Any = None, dim: int = 0) -> None:
        self._index = index
        self._ids: list[str] = []
        self._label: dict[str, int] = {}
        self._texts: list[str] = []
        self._fields: dict[str, list[Any]] = {f: [] for f in _FIELDS}
        self._meta: list[dict[str, Any]] = []
        self._by: dict[str, dict[Any, list[int]]] = {f: {} for f in _FIELDS}
        self._label_cache: dict[tuple[str, Any], np.ndarray] = {}
        self._n = 0
        self._capacity = max(capacity, self.initial_capacity)
        self._dim = dim
        self._vecs = np.zeros((self._capacity, dim), np.float32)

    def _ensure_index(self, dim: int) -> None:
        if self._index is not None:
            if dim != self._dim:
                raise ValueError(f"vector dim {dim} != index dim {self._dim}")
            return
        import hnswlib

        self._dim = dim
        self._index = hnswlib.Index(space="cosine", dim=dim)
        self._index.init_index(
            max_elements=self._capacity,
            M=self.params["M"],
            ef_construction=self.params["ef_construction"],
            random_seed=self.params["seed"],
        )

    def _grow(self, needed: int) -> None:
        """Make room for ``needed`` items before the index fills (doubling)."""
        if needed > self._index.get_max_elements():
            self._index.resize_index(max(needed, 2 * self._index.get_max_elements()))

    def _insert(
        self,
        ids: Sequence[str],
        vecs: np.ndarray,
        rows: Sequence[Mapping[str, Any]],
        meta: Sequence[dict[str, Any]],
    ) -> None:
        self._ensure_index(int(vecs.shape[1]))
        start = self._n
        self._grow(start + len(ids))
        labels = np.arange(start, start + len(ids))
        self._index.add_items(vecs, labels, num_threads=1)  # one thread: a reproducible graph
        self._append_meta(ids, vecs, rows, meta)

    def _append_meta(
        self,
        ids: Sequence[str],
        vecs: np.ndarray,
        rows: Sequence[Mapping[str, Any]] | pa.Table,
        meta: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        if isinstance(rows, pa.Table):
            meta = [_loads(m) for m in rows.column("metadata").to_pylist()]
            rows = rows.select([*_FIELDS, "text"]).to_pylist()
        assert meta is not None
        if self._vecs.shape[1] != vecs.shape[1]:  # first vectors: now the dim is known
            self._vecs = np.zeros((max(self._capacity, len(ids)), vecs.shape[1]), np.float32)
        self._grow_vecs(self._n + len(ids))
        for i, (eid, row, m) in enumerate(zip(ids, rows, meta, strict=True)):
            label = self._n + i
            self._ids.append(eid)
            self._label[eid] = label
            self._texts.append(str(row["text"]))
            self._meta.append(m)
            for f in _FIELDS:
                v = row.get(f)
                self._fields[f].append(v)
                self._by[f].setdefault(v, []).append(label)
        self._vecs[self._n : self._n + len(ids)] = vecs
        self._n += len(ids)

    def _grow_vecs(self, needed: int) -> None:
        if needed > self._vecs.shape[0]:
            new_vecs = np.zeros(
                (max(needed, 2 * self._vecs.shape[0]), self._vecs.shape[1]), np.float32
            )
            new_vecs[: self._n] = self._vecs[: self._n]
            self._vecs = new_vecs

    def _knn(self, q: np.ndarray, k: int, filt: Any) -> tuple[np.ndarray, np.ndarray]:
        self._index.set_ef(max(self.ef_search, k))
        labels, dists = self._index.knn_query(q, k=k, filter=filt, num_threads=1)
        return labels[0], dists[0]

    def _exact(self, q: np.ndarray, k: int, allowed: np.ndarray) -> list[Hit]:
        scores = self._vecs[allowed] @ q
        order = np.lexsort((allowed, -scores))[:k]  # best score first, then lower label
        return [self._hit(int(allowed[i]), float(scores[i])) for i in order]

    def _match(self, where: Mapping[str, Any]) -> np.ndarray:
        """Sorted labels of the items that pass every condition of ``where``."""
        result: np.ndarray | None = None
        for key, want in where.items():
            values = list(want) if isinstance(want, (list, tuple, set, frozenset)) else [want]
            if key in _FIELDS:
                parts = [self._labels_of(key, v) for v in values]
                labels = np.unique(np.concatenate(parts)) if len(parts) > 1 else parts[0]
            else:
                name = key.removeprefix("metadata.")
                labels = np.array(
                    [i for i, m in enumerate(self._meta) if name in m and m[name] in values],
                    np.int64,
                )
            result = (
                labels if result is None else np.intersect1d(result, labels, assume_unique=True)
            )
            if result.size == 0:
                break
        return np.zeros(0, np.int64) if result is None else result

    def _labels_of(self, field_name: str, value: Any) -> np.ndarray:
        key = (field_name, value)
        cached = self._label_cache.get(key)
        if cached is None or cached.size != len(self._by[field_name].get(value, ())):
            cached = np.asarray(self._by[field_name].get(value, ()), np.int64)
            self._label_cache[key] = cached
        return cached

    def _hit(self, label: int, score: float) -> Hit:
        return Hit(
            id=self._ids[label],
            text=self._texts[label],
            score=score,
            category=str(self._fields["category"][label] or ""),
            kind=str(self._fields["kind"][label] or ""),
            metadata=dict(self._meta[label]),
            candidate_id=self._fields["candidate_id"][label],
        )

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        vecs = np.asarray(self.embedder.embed(list(texts)), dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[0] != len(texts):
            raise ValueError(
                f"{self.embedder!r} returned shape {vecs.shape} for {len(texts)} texts; "
                "an Embedder must return (len(texts), dim)"
            )
        return vecs

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with open(self.index_dir / ".lock", "a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def __repr__(self) -> str:
        return (
            f"ExperiencePool(run_id={self.run_id!r}, n={self._n}, embedder={self.embedder.name!r}, "
            f"index_dir={str(self.index_dir)!r})"
        )


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _normalize(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: np.ndarray = v / norms
    return out


def _loads(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_value": value}


def _rows_with_vectors(rows: list[dict[str, Any]], vecs: np.ndarray) -> pa.Table:
    from store.schemas import schema_for

    schema = schema_for("experiences")
    cols = {
        n: pa.array([r.get(n) for r in rows], schema.field(n).type)
        for n in schema.names
        if n not in ("embedding", "schema_version")
    }
    dim = vecs.shape[1]
    offsets = pa.array(np.arange(0, (len(rows) + 1) * dim, dim, dtype=np.int32))
    cols["embedding"] = pa.ListArray.from_arrays(offsets, pa.array(vecs.reshape(-1), pa.float32()))
    return pa.table(cols)


def _stored_vectors(rows: pa.Table, embedder: str) -> tuple[np.ndarray, np.ndarray]:
    """``(vectors, have)``: the stored vectors of rows embedded by ``embedder`` (a zero row
    where ``have`` is False: no vector, another embedder, or another length)."""
    n = rows.num_rows
    made_by = rows.column("embedder")
    col = rows.column("embedding")
    lengths = pc.fill_null(pc.list_value_length(col), 0).to_numpy(zero_copy_only=False)
    have = pc.fill_null(pc.equal(made_by, embedder), False).to_numpy(zero_copy_only=False)
    have = np.asarray(have, bool) & (lengths > 0)
    if not have.any():
        return np.zeros((n, 0), np.float32), have
    dim = int(np.bincount(lengths[have]).argmax())
    have &= lengths == dim
    out = np.zeros((n, dim), np.float32)
    flat = pc.list_flatten(col.filter(pa.array(have))).to_numpy(zero_copy_only=False)
    out[have] = np.asarray(flat, np.float32).reshape(-1, dim)
    return out, have


def _experience_id(item: Mapping[str, Any]) -> str:
    """A deterministic id from the experience's content (candidate, category, kind, text,
    metadata, retrieval key): writing the same lesson again (a restarted run) finds it already
    stored."""
    parts = [
        str(item.get("candidate_id") or ""),
        str(item.get("category") or ""),
        str(item.get("kind") or ""),
        str(item["text"]),
        json.dumps(dict(item.get("metadata") or {}), sort_keys=True, default=str),
    ]
    if item.get("key"):  # a lesson indexed under another key is another experience
        parts.append(str(item["key"]))
    return "exp-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]
