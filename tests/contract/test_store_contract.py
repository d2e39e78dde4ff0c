"""The result-store contract, run against every backend (local directory, S3 on the local
S3 server): round trips of every record type, concurrent appends from 4 processes, a crash in
the middle of a write, compaction, schema versions, the catalog and the experience pool."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nas.records import Candidate, EpochMetrics, Origin, TrialCost, TrialRecord, TrialState
from store import (
    SCHEMA_VERSION,
    TABLES,
    ExperiencePool,
    HashingEmbedder,
    SchemaVersionError,
    connect,
)
from store.layout import CompactionMarker, marker_name, partition_key
from tests.contract.store_fixtures import StoreSpec, child_env

RUN = "run-1"


def _candidate(i: int) -> Candidate:
    return Candidate(
        arch_kind="nb201",
        arch=f"|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|avg_pool_3x3~{i % 3}|",
        arch_hash=f"h{i}",
        recipe={"epochs": 3, "lr": 0.1},
        seed=i,
        parents=(f"p{i}",) if i else (),
        origin=Origin(strategy="rea", agent="mutation", suggestion="widen", prompt="v1"),
        created_at=1_700_000_000.0 + i,
    )


def _trial(c: Candidate, i: int) -> TrialRecord:
    curve = tuple(
        EpochMetrics(e, 2.0 / e, 0.3 * e, 2.1 / e, 0.25 * e, 0.1, 1.5) for e in range(1, 4)
    )
    if i % 4 == 3:
        return TrialRecord(c.id, TrialState.DIVERGED, error="loss is nan at epoch 2", attempt=2)
    return TrialRecord(
        c.id,
        TrialState.COMPLETE,
        metrics={"val_acc": 0.5 + i / 100, "test_acc": 0.49, "val_loss": 1.2, "top5": 0.9},
        cost=TrialCost(params=1000 * i, flops=2000 * i, macs=1000 * i, wall_seconds=3.5),
        curve=curve,
        job_id=f"123_{i}",
        evaluator="train",
        started_at=10.0,
        finished_at=13.5,
    )


def _rows_llm(n: int) -> list[dict[str, object]]:
    return [
        {
            "call_id": f"call{i}",
            "agent": "proposer",
            "model": "gpt-4o-mini",
            "prompt_id": "p1",
            "tokens_in": 100 + i,
            "tokens_out": 20,
            "cost_usd": 0.001,
            "latency_s": 0.5,
            "cache_hit": i % 2 == 0,
            "status": "ok",
            "error": None,
            "candidate_id": None,
            "created_at": 1.0 + i,
        }
        for i in range(n)
    ]


def _rows_events(n: int) -> list[dict[str, object]]:
    return [
        {"event_id": f"e{i}", "kind": "asked", "payload": json.dumps({"n": i}), "created_at": 2.0}
        for i in range(n)
    ]


def _rows_exp(n: int) -> list[dict[str, object]]:
    return [
        {
            "experience_id": f"x{i}",
            "category": "shape mismatch",
            "kind": "failure",
            "text": f"lesson {i}",
            "metadata": "{}",
            "candidate_id": None,
            "created_at": 3.0,
            "embedder": "hashing-v1-d4",
            "embedding": [0.5, 0.5, 0.5, 0.5],
        }
        for i in range(n)
    ]


def _trial_rows(n: int, start: int = 0) -> list[dict[str, object]]:
    return [
        {"candidate_id": f"c{i:06d}", "state": "COMPLETE", "val_acc": (i % 997) / 997, "params": i}
        for i in range(start, start + n)
    ]


# --------------------------------------------------------------------------- round trips
def test_every_record_type_round_trips(spec: StoreSpec) -> None:
    s = spec.open()
    cands = [_candidate(i) for i in range(8)]
    trials = [_trial(c, i) for i, c in enumerate(cands)]
    s.append("candidates", RUN, [c.to_row() for c in cands])
    s.append("trials", RUN, [t.to_row() for t in trials])
    s.append("epochs", RUN, [r for t in trials for r in t.epoch_rows()])
    s.append("llm_calls", RUN, _rows_llm(5))
    s.append("events", RUN, _rows_events(4))
    s.append("experiences", RUN, _rows_exp(3))

    back = s.read("candidates", RUN)
    assert back.schema.remove(back.schema.get_field_index("run_id")) == TABLES["candidates"]
    assert [Candidate.from_row(r) for r in back.to_pylist()] == cands
    assert set(back.column("run_id").to_pylist()) == {RUN}

    epochs = s.read("epochs", RUN).to_pylist()
    by_cand: dict[str, list[EpochMetrics]] = {}
    for r in epochs:
        by_cand.setdefault(r["candidate_id"], []).append(EpochMetrics.from_row(r))
    got = [
        TrialRecord.from_row(r, tuple(by_cand.get(r["candidate_id"], ())))
        for r in s.read("trials", RUN).to_pylist()
    ]
    assert got == trials

    for table, rows in [
        ("llm_calls", _rows_llm(5)),
        ("events", _rows_events(4)),
        ("experiences", _rows_exp(3)),
    ]:
        out = s.read(table, RUN).to_pylist()
        assert [{k: r[k] for k in rows[0]} for r in out] == rows
        assert {r["schema_version"] for r in out} == {SCHEMA_VERSION}


def test_read_selects_runs_and_empty_tables_keep_their_schema(spec: StoreSpec) -> None:
    s = spec.open()
    assert s.read("trials").num_rows == 0
    assert s.read("trials").column_names == [*TABLES["trials"].names, "run_id"]
    assert s.append("trials", RUN, []) is None
    s.append("trials", "a", _trial_rows(3))
    s.append("trials", "b", _trial_rows(2))
    s.append("events", "c", _rows_events(1))
    assert s.runs() == ["a", "b", "c"] and s.runs("trials") == ["a", "b"]
    assert s.read("trials").num_rows == 5
    assert s.read("trials", "a").num_rows == 3
    assert s.read("trials", ["a", "b"]).num_rows == 5
    assert s.read("trials", "zzz").num_rows == 0
    assert s.read("trials", "b", columns=["candidate_id", "run_id"]).to_pylist() == [
        {"candidate_id": "c000000", "run_id": "b"},
        {"candidate_id": "c000001", "run_id": "b"},
    ]


def test_bad_input_is_rejected_with_a_useful_message(spec: StoreSpec) -> None:
    s = spec.open()
    with pytest.raises(ValueError, match="unknown columns \\['val_accuracy'\\]"):
        s.append("trials", RUN, [{"candidate_id": "c", "state": "COMPLETE", "val_accuracy": 1}])
    with pytest.raises(KeyError, match="tables are: candidates"):
        s.append("trial", RUN, _trial_rows(1))
    with pytest.raises(ValueError, match="run id"):
        s.append("trials", "../escape", _trial_rows(1))
    assert s.read("trials").num_rows == 0


# --------------------------------------------------------------------------- concurrency
APPENDER = """
import sys
from store import open_store
uri, endpoint, proc, batches, size = sys.argv[1], sys.argv[2] or None, *map(int, sys.argv[3:6])
s = open_store(uri, endpoint=endpoint)
for b in range(batches):
    s.append("trials", "run-1", [
        {"candidate_id": f"p{proc}-b{b}-r{r}", "state": "COMPLETE", "val_acc": 0.5, "params": r}
        for r in range(size)
    ])
"""


def test_concurrent_appends_from_four_processes_never_clobber(spec: StoreSpec) -> None:
    batches, size = 10, 25
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, *spec.as_args(), str(p), str(batches), str(size)],
            env=child_env(),
            stderr=subprocess.PIPE,
        )
        for p in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    s = spec.open()
    ids = s.read("trials", RUN).column("candidate_id").to_pylist()
    assert len(ids) == 4 * batches * size == len(set(ids))
    assert len(s.files("trials", RUN)) == 4 * batches


# --------------------------------------------------------------------------- crash mid-write
CRASHER = """
import os, sys
import store.result_store as rs
from store import open_store
uri, endpoint = sys.argv[1], sys.argv[2] or None
s = open_store(uri, endpoint=endpoint)
rows = [{"candidate_id": f"c{i:06d}", "state": "COMPLETE", "val_acc": i / 1e5, "params": i}
        for i in range(20000)]
if uri.startswith("s3://"):
    # Die after sending half of the PUT body: the server sees a truncated upload.
    import botocore.awsrequest as ar
    real_send, state = ar.AWSConnection.send, {"put": False}
    def send(self, data):
        if data[:4] == b"PUT " and b"/trials/" in data.split(b"\\r\\n", 1)[0]:
            state["put"] = True
            return real_send(self, data)
        if state["put"]:
            real_send(self, data[: max(1, len(data) // 2)])
            os._exit(17)
        return real_send(self, data)
    ar.AWSConnection.send = send
else:
    # Die after writing half of the file's bytes.
    real_open = open
    def crashing_open(path, mode="r", *a, **k):
        fh = real_open(path, mode, *a, **k)
        if "w" not in mode:
            return fh
        class Half:
            def __enter__(self): return self
            def __exit__(self, *e): fh.close()
            def write(self, data):
                fh.write(data[: len(data) // 2]); fh.flush(); os.fsync(fh.fileno()); os._exit(17)
        return Half()
    rs.open = crashing_open
s.append("trials", "run-1", rows, key="batch-2")
print("not reached")
"""


def test_crash_in_the_middle_of_a_write_leaves_nothing_visible_and_retry_loses_nothing(
    spec: StoreSpec,
) -> None:
    s = spec.open()
    s.append("trials", RUN, _trial_rows(10, start=100_000), key="batch-1")
    before = s.files("trials", RUN)
    out = subprocess.run(
        [sys.executable, "-c", CRASHER, *spec.as_args()],
        env=child_env(),
        capture_output=True,
        timeout=120,
    )
    assert out.returncode == 17, out.stderr.decode()[-2000:]
    assert s.files("trials", RUN) == before  # no partial file became visible
    assert s.read("trials", RUN).num_rows == 10
    # Any DuckDB reader of the raw layout sees only complete files too.
    assert connect(s, RUN).sql("SELECT count(*) FROM trials").fetchone() == (10,)

    rows = [
        {"candidate_id": f"c{i:06d}", "state": "COMPLETE", "val_acc": i / 1e5, "params": i}
        for i in range(20000)
    ]
    s.append("trials", RUN, rows, key="batch-2")  # the retry
    s.append("trials", RUN, rows, key="batch-2")  # a retry after a lost acknowledgement
    ids = s.read("trials", RUN).column("candidate_id").to_pylist()
    assert len(ids) == 20010 == len(set(ids))


def test_reads_are_idempotent(spec: StoreSpec) -> None:
    s = spec.open()
    for b in range(3):
        s.append("trials", RUN, _trial_rows(5, start=5 * b))
    first = s.read("trials", RUN)
    assert s.read("trials", RUN).equals(first)
    assert spec.open().read("trials", RUN).equals(first)


def test_keyed_files_can_be_listed_and_discarded(spec: StoreSpec) -> None:
    """What a restarted controller uses to drop the writes of an unjournaled step."""
    s = spec.open()
    s.append("trials", RUN, _trial_rows(2), key="ask-00000001")
    s.append("trials", RUN, _trial_rows(2, start=2), key="ask-00000002")
    s.append("trials", RUN, _trial_rows(1, start=4))  # not keyed: never listed
    assert s.keys("trials", RUN, "ask-") == ["ask-00000001", "ask-00000002"]
    s.discard("trials", RUN, ["ask-00000002", "ask-missing"])
    assert s.keys("trials", RUN) == ["ask-00000001"]
    assert s.read("trials", RUN).num_rows == 3
    row = {"experience_id": "e", "category": "c", "kind": "k", "text": "t"}
    s.append("experiences", RUN, [{**row, "created_at": 5.0}], key="exp-old")
    s.append("experiences", RUN, [{**row, "experience_id": "f", "created_at": 9.0}],
             key="exp-new")  # fmt: skip
    assert s.discard_newer("experiences", RUN, after=7.0) == 1
    assert s.read("experiences", RUN).column("experience_id").to_pylist() == ["e"]


# --------------------------------------------------------------------------- compaction
def test_compaction_merges_small_files_and_preserves_rows(spec: StoreSpec) -> None:
    s = spec.open()
    for i in range(60):  # e.g. 60 trials reported one by one
        s.append("trials", RUN, _trial_rows(3, start=3 * i))
        s.append("events", RUN, _rows_events(1))
    s.append("trials", "other", _trial_rows(2))
    before = s.read("trials", RUN)
    results = {r.table: r for r in s.compact(RUN)}
    assert (results["trials"].files_before, results["trials"].files_after) == (60, 1)
    assert results["trials"].rows == 180 and results["events"].files_after == 1
    assert results["epochs"].files_before == 0 and results["epochs"].files_after == 0
    after = s.read("trials", RUN)
    assert after.equals(before)  # same rows, same order
    assert len(s.files("trials", RUN)) == 1
    assert len(s.files("trials", "other")) == 1 and s.read("trials", "other").num_rows == 2
    assert connect(s).sql("SELECT count(*) FROM trials").fetchone() == (182,)
    again = s.compact(RUN, ["trials"])[0]
    assert (again.files_before, again.files_after, again.rows) == (1, 1, 180)


def test_compaction_respects_the_target_size(spec: StoreSpec) -> None:
    s = spec.open()
    for i in range(12):
        s.append("trials", RUN, _trial_rows(400, start=400 * i))
    size = max(len(_parquet_bytes(s, u)) for u in s.files("trials", RUN))
    result = s.compact(RUN, ["trials"], target_bytes=4 * size)[0]
    assert 3 <= result.files_after <= 6 and result.rows == 4800
    assert sorted(s.read("trials", RUN).column("candidate_id").to_pylist()) == [
        f"c{i:06d}" for i in range(4800)
    ]


def test_a_compaction_that_crashed_after_publishing_shows_each_row_once_and_is_finished(
    spec: StoreSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = spec.open()
    for i in range(5):
        s.append("trials", RUN, _trial_rows(4, start=4 * i))
    expected = sorted(s.read("trials", RUN).column("candidate_id").to_pylist())

    def crash(keys: object) -> None:
        raise OSError("simulated crash before the sources were deleted")

    monkeypatch.setattr(s, "_delete", crash)
    with pytest.raises(OSError, match="simulated crash"):
        s.compact(RUN, ["trials"])
    monkeypatch.undo()
    # Merged file published, sources still there, marker still there: readers count once.
    assert sorted(s.read("trials", RUN).column("candidate_id").to_pylist()) == expected
    assert connect(s, RUN).sql("SELECT count(*) FROM trials").fetchone() == (20,)
    assert len(s.files("trials", RUN)) == 1
    result = s.compact(RUN, ["trials"])[0]  # finishes the crashed one
    assert (result.files_after, result.rows) == (1, 20)
    listing = [o.name for o in s._list(partition_key("trials", RUN))]
    assert len(listing) == 1 and listing[0].startswith("part-")


def test_a_compaction_defers_to_another_one_in_progress(spec: StoreSpec) -> None:
    s = spec.open()
    for i in range(4):
        s.append("trials", RUN, _trial_rows(2, start=2 * i))
    base = partition_key("trials", RUN)
    names = [u.rsplit("/", 1)[1] for u in s.files("trials", RUN)]
    other = CompactionMarker("part-00000000000000000001-aaaaaaaaaaaa.parquet", tuple(names[:2]))
    s._put(f"{base}/{marker_name(other.merged)}", other.to_json())  # a live compactor (our pid)
    result = s.compact(RUN, ["trials"])[0]
    assert "another compaction" in result.skipped
    assert result.files_after == 4 and s.read("trials", RUN).num_rows == 8
    # An abandoned marker (its process is gone) is discarded and compaction proceeds.
    dead = CompactionMarker(other.merged, other.replaced, pid=2**22 + 12345)
    s._put(f"{base}/{marker_name(other.merged)}", dead.to_json())
    result = s.compact(RUN, ["trials"])[0]
    assert (result.skipped, result.files_after, result.rows) == ("", 1, 8)


# --------------------------------------------------------------------------- schema versions
def _raw_file(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _parquet_bytes(s: object, url: str) -> bytes:
    key = url.split("/trials/", 1)[1]
    return s._get(f"trials/{key}")  # type: ignore[attr-defined, no-any-return]


def test_files_of_older_schema_versions_read_with_null_new_columns(spec: StoreSpec) -> None:
    s = spec.open()
    v1 = pa.table(
        {
            "experience_id": ["old"],
            "category": ["shape mismatch"],
            "kind": ["failure"],
            "text": ["written by schema v1"],
            "metadata": ["{}"],
            "candidate_id": [None],
            "created_at": [1.0],
            "schema_version": pa.array([1], pa.int32()),
        }
    )
    s._put(
        f"{partition_key('experiences', RUN)}/part-00000000000000000001-000000000000.parquet",
        _raw_file(v1),
    )
    s.append("experiences", RUN, _rows_exp(1))
    back = s.read("experiences", RUN).to_pylist()
    assert [(r["experience_id"], r["schema_version"], r["embedding"]) for r in back] == [
        ("old", 1, None),
        ("x0", SCHEMA_VERSION, [0.5, 0.5, 0.5, 0.5]),
    ]
    con = connect(s, RUN)
    assert con.sql("SELECT count(*), count(embedding) FROM experiences").fetchone() == (2, 1)


def test_files_of_a_newer_schema_version_are_refused(spec: StoreSpec) -> None:
    s = spec.open()
    s.append("trials", RUN, _trial_rows(2))
    newer = s.read("trials", RUN).drop_columns(["run_id"])
    newer = newer.set_column(
        newer.schema.get_field_index("schema_version"),
        "schema_version",
        pa.array([SCHEMA_VERSION + 1] * 2, pa.int32()),
    )
    s._put(
        f"{partition_key('trials', RUN)}/part-99999999999999999999-000000000000.parquet",
        _raw_file(newer),
    )
    with pytest.raises(SchemaVersionError, match="upgrade archlab"):
        s.read("trials", RUN)
    extra = pa.table({"candidate_id": ["z"], "state": ["COMPLETE"], "future_col": [1.0]})
    s._put(
        f"{partition_key('trials', 'r2')}/part-00000000000000000001-000000000000.parquet",
        _raw_file(extra),
    )
    with pytest.raises(SchemaVersionError, match="future_col"):
        s.read("trials", "r2")


# --------------------------------------------------------------------------- catalog
def test_catalog_views_for_one_run_and_all_runs(spec: StoreSpec) -> None:
    s = spec.open()
    s.append("trials", "a", _trial_rows(5))
    s.append("trials", "b", _trial_rows(3, start=10))
    s.append("candidates", "a", [_candidate(1).to_row()])
    one = connect(s, "a")
    assert one.sql("SELECT count(*), min(run_id), max(run_id) FROM trials").fetchone() == (
        5,
        "a",
        "a",
    )
    every = connect(s)
    assert every.sql("SELECT run_id, count(*) FROM trials GROUP BY 1 ORDER BY 1").fetchall() == [
        ("a", 5),
        ("b", 3),
    ]
    # Empty tables bind with their columns and types.
    assert every.sql("SELECT count(*), sum(tokens_in) FROM llm_calls").fetchone() == (0, None)
    cols = {r[0]: r[1] for r in every.sql("DESCRIBE trials").fetchall()}
    assert cols["params"] == "BIGINT" and cols["run_id"] == "VARCHAR"
    top = s.query(
        "SELECT candidate_id FROM trials WHERE params < 4 ORDER BY val_acc DESC LIMIT 2", "a"
    )
    assert top.column("candidate_id").to_pylist() == ["c000003", "c000002"]


def test_numeric_run_ids_stay_strings(spec: StoreSpec) -> None:
    s = spec.open()
    s.append("trials", "20240101", _trial_rows(1))
    assert connect(s).sql("SELECT run_id FROM trials").fetchone() == ("20240101",)


# --------------------------------------------------------------------------- experience pool
def test_experience_pool_survives_a_restart_with_the_same_top5(spec: StoreSpec, tmp_path) -> None:
    s = spec.open()
    emb = HashingEmbedder(dim=128)
    topics = ["shape mismatch", "invalid connection", "degradation", "divergence"]
    with ExperiencePool(s, RUN, emb, tmp_path / "idx") as pool:
        for i in range(120):
            cat = topics[i % 4]
            pool.add(
                f"{cat}: lesson {i} about conv {i % 7} and pool {i % 5}", cat, "failure", {"i": i}
            )
        before = pool.query("conv 3 and pool 2 shape", k=5)
        filtered = pool.query("conv 3", k=5, where={"category": "divergence"})
    assert len(before) == 5 and all(h.category == "divergence" for h in filtered)
    again = ExperiencePool(s, RUN, emb, tmp_path / "idx")
    assert not again.rebuilt and len(again) == 120
    assert [h.id for h in again.query("conv 3 and pool 2 shape", k=5)] == [h.id for h in before]
    assert [h.id for h in again.query("conv 3", k=5, where={"category": "divergence"})] == [
        h.id for h in filtered
    ]
    rebuilt = ExperiencePool(
        s, RUN, emb, tmp_path / "fresh-idx"
    )  # index lost: rebuilt from the store
    assert rebuilt.rebuilt
    assert [h.id for h in rebuilt.query("conv 3 and pool 2 shape", k=5)] == [h.id for h in before]


def test_plain_duckdb_client_reads_the_layout(spec: StoreSpec) -> None:
    """The files are ordinary Hive-partitioned Parquet that any DuckDB client can glob."""
    s = spec.open()
    s.append("trials", "a", _trial_rows(4))
    s.append("trials", "b", _trial_rows(2))
    con = duckdb.connect()
    s._duckdb_setup(con)
    root = s.uri
    n = con.sql(
        f"SELECT count(*) FROM read_parquet('{root}/trials/run_id=*/part-*.parquet', hive_partitioning=true)"
    ).fetchone()
    assert n == (6,)
