"""Pure parts of the store: names, the visibility rule, schemas."""

from __future__ import annotations

import pyarrow as pa
import pytest

from store.layout import (
    CompactionMarker,
    ObjectInfo,
    check_run_id,
    marker_name,
    new_part_name,
    part_name_for_key,
    visible_parts,
)
from store.schemas import SCHEMA_VERSION, TABLES, SchemaVersionError, conform, to_table

P = "trials/run_id=r"


def _o(name: str) -> ObjectInfo:
    return ObjectInfo(f"{P}/{name}", 10)


def test_part_names_are_unique_sortable_and_hidden_from_nothing() -> None:
    a, b = new_part_name(1), new_part_name(2)
    assert a < b and a != new_part_name(1)
    assert a.startswith("part-") and a.endswith(".parquet")
    assert part_name_for_key("cand-1.a2") == "part-key-cand-1.a2.parquet"
    with pytest.raises(ValueError, match="idempotency key"):
        part_name_for_key("a/b")
    assert ObjectInfo(f"{P}/{a}").run_id == "r"


@pytest.mark.parametrize("bad", ["", "..", "a/b", "a=b", "-x", "x" * 201, "a b"])
def test_bad_run_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="run id"):
        check_run_id(bad)


def test_visible_parts_hides_replaced_files_only_once_the_merged_file_exists() -> None:
    srcs = [new_part_name(i) for i in (1, 2, 3)]
    merged = new_part_name(1)
    m = CompactionMarker(merged, tuple(srcs[:2]))
    mk = f"{P}/{marker_name(merged)}"
    listing = [_o(n) for n in srcs] + [ObjectInfo(mk)]
    # Marker written, merged file not yet: the sources are the truth.
    assert [o.name for o in visible_parts(listing, {mk: m})] == srcs
    # Merged file published: the sources it replaces disappear for readers.
    listing.append(_o(merged))
    assert {o.name for o in visible_parts(listing, {mk: m})} == {merged, srcs[2]}
    # Non-part objects are never visible.
    assert all(o.name.startswith("part-") for o in visible_parts(listing, {mk: m}))


def test_visible_parts_never_counts_a_file_twice_when_two_compactions_raced() -> None:
    srcs = [new_part_name(i) for i in (1, 2)]
    m1, m2 = new_part_name(5), new_part_name(6)
    k1, k2 = f"{P}/{marker_name(m1)}", f"{P}/{marker_name(m2)}"
    listing = [_o(n) for n in [*srcs, m1, m2]]
    markers = {k1: CompactionMarker(m1, tuple(srcs)), k2: CompactionMarker(m2, tuple(srcs))}
    assert [o.name for o in visible_parts(listing, markers)] == [m1]


def test_marker_json_round_trip_and_abandonment() -> None:
    m = CompactionMarker("part-x.parquet", ("a", "b"))
    assert CompactionMarker.from_json(m.to_json()) == m
    assert not m.is_abandoned(3600)
    assert CompactionMarker("x", (), pid=2**22 + 999).is_abandoned(3600)
    assert CompactionMarker("x", (), created_at=0.0).is_abandoned(3600)


def test_to_table_uses_the_explicit_schema_and_refuses_typos() -> None:
    t = to_table("trials", [{"candidate_id": "c", "state": "COMPLETE", "params": 3}])
    assert t.schema == TABLES["trials"] and t.column("schema_version").to_pylist() == [
        SCHEMA_VERSION
    ]
    arrow = to_table(
        "trials",
        pa.table({"candidate_id": ["c"], "state": ["X"], "params": pa.array([1], pa.int32())}),
    )
    assert arrow.schema == TABLES["trials"] and arrow.column("params").type == pa.int64()
    with pytest.raises(ValueError, match="unknown columns"):
        to_table("trials", pa.table({"candidate_id": ["c"], "nope": [1]}))


def test_conform_fills_old_files_and_refuses_newer_ones() -> None:
    old = pa.table(
        {"candidate_id": ["c"], "state": ["COMPLETE"], "schema_version": pa.array([1], pa.int32())}
    )
    t = conform("trials", old)
    assert t.schema == TABLES["trials"] and t.column("val_acc").to_pylist() == [None]
    newer = old.set_column(2, "schema_version", pa.array([SCHEMA_VERSION + 1], pa.int32()))
    with pytest.raises(SchemaVersionError, match=f"schema version {SCHEMA_VERSION + 1}"):
        conform("trials", newer, "f.parquet")


@pytest.mark.parametrize(
    ("table", "v4_columns"),
    [
        ("trials", ["fidelity_epochs", "fidelity_max"]),  # issue 25
        ("llm_calls", ["constraint_name", "constraint_mode", "obeyed"]),  # issue 24
    ],
)
def test_version_3_files_read_with_both_sets_of_version_4_columns_null(
    table: str, v4_columns: list[str]
) -> None:
    """Version 4 merged two additions (#24 llm_calls, #25 trials): a v3 file of either
    table is read, its new columns null, and a v4 file of each table holds both sets."""
    v3 = pa.table({"schema_version": pa.array([3], pa.int32())})
    t = conform(table, v3, "v3.parquet")
    assert t.schema == TABLES[table]
    assert all(t.column(c).to_pylist() == [None] for c in v4_columns)
    assert SCHEMA_VERSION >= 4
    assert {"fidelity_epochs", "fidelity_max"} <= set(TABLES["trials"].names)
    assert {"constraint_name", "constraint_mode", "obeyed"} <= set(TABLES["llm_calls"].names)


def test_version_4_llm_calls_read_with_the_memo_columns_null() -> None:
    """Version 5 (#22) keeps each call's answer on its llm_calls row: a v4 file (a run that
    kept the answers in RUN/llm_memo.jsonl) is read, its memo columns null."""
    v4 = pa.table({"call_id": ["c1"], "schema_version": pa.array([4], pa.int32())})
    t = conform("llm_calls", v4, "v4.parquet")
    assert SCHEMA_VERSION == 5 and t.schema == TABLES["llm_calls"]
    assert t.column("call_id").to_pylist() == ["c1"]
    assert all(t.column(c).to_pylist() == [None] for c in ("memo_scope", "memo_key", "memo_n",
                                                             "answer"))  # fmt: skip
