"""ExperiencePool on a local store: growth, clamping, filters, cache staleness, restarts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from store import ExperiencePool, HashingEmbedder, LocalResultStore

CATS = ["shape mismatch", "invalid connection", "degradation"]


def _fill(pool: ExperiencePool, n: int, start: int = 0) -> list[str]:
    return pool.add_many(
        [
            {"text": f"{CATS[i % 3]} lesson {i} conv{i % 11} pool{i % 7}", "category": CATS[i % 3],
             "kind": "failure" if i % 2 else "success", "metadata": {"op": f"conv{i % 11}", "i": i},
             "candidate_id": f"c{i % 5}"}
            for i in range(start, start + n)
        ]
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> LocalResultStore:
    return LocalResultStore(tmp_path / "tables")


def test_empty_pool_answers_nothing(store: LocalResultStore, tmp_path: Path) -> None:
    pool = ExperiencePool(store, "r", HashingEmbedder(64), tmp_path / "idx")
    assert len(pool) == 0 and pool.query("anything") == []
    with pytest.raises(ValueError, match="no text"):
        pool.add("  ", "c", "k")


def test_capacity_grows_before_the_index_fills_and_k_is_clamped(
    store: LocalResultStore, tmp_path: Path
) -> None:
    pool = ExperiencePool(store, "r", HashingEmbedder(64), tmp_path / "idx", initial_capacity=8)
    ids = [pool.add(f"lesson {i}", "c", "failure") for i in range(3)]
    assert len(pool.query("lesson", k=50)) == 3
    _fill(pool, 40)
    assert len(pool) == 43 and pool._index.get_max_elements() >= 43
    hits = pool.query("lesson 1", k=100)
    assert len(hits) == 43 and hits[0].id in ids
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert pool.query("x", k=0) == []


def test_filters_by_field_metadata_and_lists(store: LocalResultStore, tmp_path: Path) -> None:
    pool = ExperiencePool(store, "r", HashingEmbedder(64), tmp_path / "idx")
    _fill(pool, 60)
    hits = pool.query("conv3 pool2", k=5, where={"category": "degradation"})
    assert len(hits) == 5 and {h.category for h in hits} == {"degradation"}
    both = pool.query(
        "conv3", k=100, where={"category": ["degradation", "shape mismatch"], "kind": "success"}
    )
    assert len(both) == 20 and all(
        h.kind == "success" and h.category != "invalid connection" for h in both
    )
    meta = pool.query("conv3", k=10, where={"metadata.op": "conv3"})
    assert meta and all(h.metadata["op"] == "conv3" for h in meta)
    assert pool.query("x", where={"category": "unknown"}) == []
    assert all(h.candidate_id == "c1" for h in pool.query("x", k=3, where={"candidate_id": "c1"}))


def test_filtered_query_through_the_graph_matches_the_exact_scan(
    store: LocalResultStore, tmp_path: Path
) -> None:
    graph = ExperiencePool(
        store, "r", HashingEmbedder(64), tmp_path / "a", exact_below=0, ef_search=200
    )
    _fill(graph, 300)
    exact = ExperiencePool(store, "r", HashingEmbedder(64), tmp_path / "b", exact_below=10**6)
    for q in ["conv3 pool2", "degradation lesson 17", "shape"]:
        want = exact.query(q, k=5, where={"kind": "success"})
        got = graph.query(q, k=5, where={"kind": "success"})
        assert all(h.kind == "success" for h in got)  # equal scores may come in any order
        assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-4)


def test_restart_loads_the_cache_and_adds_rows_it_lacks(
    store: LocalResultStore, tmp_path: Path
) -> None:
    a = ExperiencePool(store, "r", HashingEmbedder(64), tmp_path / "idx")
    _fill(a, 30)
    a.close()
    top = [h.id for h in a.query("conv3 pool2", k=5)]
    other = ExperiencePool(
        store, "r", HashingEmbedder(64), tmp_path / "other-idx"
    )  # another process
    new = _fill(other, 5, start=1000)
    b = ExperiencePool(store, "r", HashingEmbedder(64), tmp_path / "idx")
    assert not b.rebuilt and len(b) == 35
    assert {h.id for h in b.query("x", k=100)} >= set(new)
    assert [h.id for h in b.query("conv3 pool2", k=5)][:1] == top[:1]
    saved = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert len(saved["ids"]) == 35 and saved["embedder"] == "hashing-v1-d64"
    assert [p.name for p in (tmp_path / "idx").glob("index-*.bin")] == [saved["index_file"]]


def test_stale_or_broken_caches_are_rebuilt(store: LocalResultStore, tmp_path: Path) -> None:
    a = ExperiencePool(store, "r", HashingEmbedder(64), tmp_path / "idx")
    _fill(a, 20)
    a.close()
    assert ExperiencePool(
        store, "r", HashingEmbedder(64), tmp_path / "idx", M=8
    ).rebuilt  # other params
    assert ExperiencePool(
        store, "r", HashingEmbedder(32), tmp_path / "idx"
    ).rebuilt  # other embedder: re-embeds
    meta = tmp_path / "idx" / "index.json"
    saved = json.loads(meta.read_text())
    (tmp_path / "idx" / saved["index_file"]).write_bytes(b"garbage")
    assert ExperiencePool(store, "r", HashingEmbedder(32), tmp_path / "idx").rebuilt  # corrupt file
    fresh = LocalResultStore(tmp_path / "other-tables")  # ids the store does not hold
    p = ExperiencePool(fresh, "r", HashingEmbedder(32), tmp_path / "idx")
    assert p.rebuilt and len(p) == 0


def test_vectors_are_kept_in_the_store_so_rebuilds_do_not_re_embed(
    store: LocalResultStore, tmp_path: Path
) -> None:
    class Counting(HashingEmbedder):
        calls = 0

        def embed(self, texts):  # type: ignore[no-untyped-def]
            type(self).calls += len(texts)
            return super().embed(texts)

    a = ExperiencePool(store, "r", Counting(64), tmp_path / "idx")
    _fill(a, 25)
    assert Counting.calls == 25
    rows = store.read("experiences", "r")
    assert rows.column("embedder").to_pylist() == ["hashing-v1-d64"] * 25
    vec = np.asarray(rows.column("embedding")[0].as_py(), np.float32)
    assert vec.shape == (64,)
    b = ExperiencePool(store, "r", Counting(64), tmp_path / "new-idx")
    assert b.rebuilt and Counting.calls == 25
    b.rebuild()
    assert Counting.calls == 25 and len(b) == 25
