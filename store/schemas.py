"""Explicit, versioned Arrow schemas of every table (never inferred from data).

Rules: only additive changes (new nullable columns at the end); bump ``SCHEMA_VERSION``
when adding one and say so in the changelog below. Every row carries ``schema_version``;
``run_id`` is not a column in the files: it is the Hive partition (``run_id=...``) of the
layout ``{table}/run_id=.../part-*.parquet`` and appears as a column when read.

Changelog:
    1 — candidates, trials, epochs, llm_calls, experiences, events.
    2 — experiences: ``embedder`` and ``embedding`` (the vector, so the hnswlib index is a
        cache rebuilt without calling the embedder again).
    3 — llm_calls: ``step``, ``attempt``, ``retried``, ``fallback`` (every HTTP request is a
        row; an unusable answer's replacement is named); candidates: ``origin_fallback``.
    4 — llm_calls: ``constraint_name``, ``constraint_mode``, ``obeyed`` (the answer form a call
        asked for, what was sent to the server for it, and whether the answer obeyed it) (#24);
        trials: ``fidelity_epochs`` (epochs the result stands for) and ``fidelity_max`` (the
        fidelity schedule's full length; null = no schedule); trial state ``PRUNED`` (#25).
    5 — llm_calls: ``memo_scope``, ``memo_key``, ``memo_n``, ``answer`` (#22): a call's final
        row keeps its answer (the response body or the error, with the rows of its retried
        attempts), keyed by (controller step, request key, occurrence), so a restored run is
        answered from the store (:mod:`nas.llm.memo`; replaces ``RUN/llm_memo.jsonl``).

Readers accept files of any version up to ``SCHEMA_VERSION`` (missing columns read as null)
and refuse newer ones with :class:`SchemaVersionError` (upgrade archlab).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SCHEMA_VERSION = 5

_common = [pa.field("schema_version", pa.int32(), nullable=False)]

CANDIDATES = pa.schema(
    [
        pa.field("candidate_id", pa.string(), nullable=False),
        pa.field("arch_kind", pa.string(), nullable=False),
        pa.field("arch", pa.string(), nullable=False),
        pa.field("arch_hash", pa.string(), nullable=False),
        pa.field("recipe", pa.string()),  # canonical JSON
        pa.field("seed", pa.int64()),
        pa.field("parents", pa.list_(pa.string())),
        pa.field("origin_strategy", pa.string()),
        pa.field("origin_agent", pa.string()),
        pa.field("origin_suggestion", pa.string()),
        pa.field("origin_prompt", pa.string()),
        pa.field("created_at", pa.float64()),  # unix seconds
        pa.field("origin_fallback", pa.string()),  # an agent's fallback that made it, if any
        *_common,
    ]
)

TRIALS = pa.schema(
    [
        pa.field("candidate_id", pa.string(), nullable=False),
        pa.field("state", pa.string(), nullable=False),
        pa.field("val_acc", pa.float64()),  # fraction in [0, 1]
        pa.field("test_acc", pa.float64()),
        pa.field("train_acc", pa.float64()),
        pa.field("train_loss", pa.float64()),
        pa.field("val_loss", pa.float64()),
        pa.field("extra_metrics", pa.string()),  # canonical JSON of other metrics
        pa.field("params", pa.int64()),
        pa.field("flops", pa.int64()),
        pa.field("macs", pa.int64()),
        pa.field("wall_seconds", pa.float64()),
        pa.field("gpu_seconds", pa.float64()),
        pa.field("llm_tokens_in", pa.int64()),
        pa.field("llm_tokens_out", pa.int64()),
        pa.field("llm_cost_usd", pa.float64()),
        pa.field("epochs_run", pa.int32()),
        pa.field("error", pa.string()),
        pa.field("attempt", pa.int32()),
        pa.field("job_id", pa.string()),
        pa.field("evaluator", pa.string()),
        pa.field("started_at", pa.float64()),
        pa.field("finished_at", pa.float64()),
        pa.field("fidelity_epochs", pa.int32()),  # epochs the result stands for (null = full)
        pa.field("fidelity_max", pa.int32()),  # fidelity schedule's full length (null = none)
        *_common,
    ]
)

EPOCHS = pa.schema(
    [
        pa.field("candidate_id", pa.string(), nullable=False),
        pa.field("attempt", pa.int32()),
        pa.field("epoch", pa.int32(), nullable=False),
        pa.field("train_loss", pa.float64()),
        pa.field("train_acc", pa.float64()),
        pa.field("val_loss", pa.float64()),
        pa.field("val_acc", pa.float64()),
        pa.field("lr", pa.float64()),
        pa.field("seconds", pa.float64()),
        *_common,
    ]
)

LLM_CALLS = pa.schema(
    [
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("agent", pa.string()),  # reader / proposer / modifier / reflector / lapt / llmatic
        pa.field("model", pa.string()),
        pa.field("prompt_id", pa.string()),
        pa.field("tokens_in", pa.int64()),
        pa.field("tokens_out", pa.int64()),
        pa.field("cost_usd", pa.float64()),
        pa.field("latency_s", pa.float64()),
        pa.field("cache_hit", pa.bool_()),  # served from a replay cassette
        pa.field("status", pa.string()),  # ok / error kind
        pa.field("error", pa.string()),
        pa.field("candidate_id", pa.string()),  # candidate this call helped produce, if any
        pa.field("created_at", pa.float64()),
        pa.field("step", pa.string()),  # the proposal step it served (LLMClient.scope)
        pa.field("attempt", pa.int32()),  # 1, 2, ...: one row per HTTP request
        pa.field("retried", pa.bool_()),  # a failed attempt followed by another
        pa.field("fallback", pa.string()),  # what replaced an unusable answer, if anything
        pa.field("constraint_name", pa.string()),  # the answer form asked for (Constraint.name)
        # what was sent for it: gbnf / json_object / json_schema / structured_outputs.* /
        # "none: <why>" (nas.llm.structured); null = the call asked for no constraint
        pa.field("constraint_mode", pa.string()),
        pa.field("obeyed", pa.bool_()),  # the answer is a sentence of the constraint
        *_common,
        # v5: the run's memo of answered calls (nas.llm.memo); null on attempt rows and on
        # calls made without a run (no memo)
        pa.field("memo_scope", pa.string()),  # controller step that made it ("op12"; "" none)
        pa.field("memo_key", pa.string()),  # request key (with the attribution step, if any)
        pa.field("memo_n", pa.int32()),  # occurrence of the key in that step (0, 1, ...)
        pa.field("answer", pa.string()),  # JSON {"response"|"error", "attempts": [rows]}
    ]
)

EXPERIENCES = pa.schema(
    [
        pa.field("experience_id", pa.string(), nullable=False),
        pa.field(
            "category", pa.string()
        ),  # invalid connection / shape mismatch / degradation / ...
        pa.field("kind", pa.string()),  # failure / fail2success / success
        pa.field("text", pa.string(), nullable=False),
        pa.field("metadata", pa.string()),  # canonical JSON
        pa.field("candidate_id", pa.string()),
        pa.field("created_at", pa.float64()),
        *_common,
        # v2
        pa.field("embedder", pa.string()),  # Embedder.name that made ``embedding``
        pa.field("embedding", pa.list_(pa.float32())),  # the raw vector
    ]
)

EVENTS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field(
            "kind", pa.string(), nullable=False
        ),  # run_started / asked / submitted / told / ...
        pa.field("payload", pa.string()),  # canonical JSON
        pa.field("created_at", pa.float64()),
        *_common,
    ]
)

TABLES: dict[str, pa.Schema] = {
    "candidates": CANDIDATES,
    "trials": TRIALS,
    "epochs": EPOCHS,
    "llm_calls": LLM_CALLS,
    "experiences": EXPERIENCES,
    "events": EVENTS,
}


class SchemaVersionError(RuntimeError):
    """A file was written by a newer archlab (a higher ``schema_version``) than this one reads."""


def schema_for(table: str) -> pa.Schema:
    try:
        return TABLES[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}; tables are: {', '.join(TABLES)}") from None


def to_table(table: str, rows: Sequence[Mapping[str, Any]] | pa.Table) -> pa.Table:
    """Rows (dicts, or an Arrow table with a subset of the columns) -> Arrow table with the
    table's explicit schema; missing columns -> null, unknown columns -> error (a typo must
    not silently vanish). ``schema_version`` is always set to :data:`SCHEMA_VERSION`."""
    schema = schema_for(table)
    names = set(schema.names)
    if isinstance(rows, pa.Table):
        unknown = set(rows.column_names) - names
        if unknown:
            raise ValueError(
                f"Arrow table for {table!r} has unknown columns {sorted(unknown)}; "
                f"columns are: {', '.join(schema.names)}"
            )
        n = rows.num_rows
        arrays = []
        for f in schema:
            if f.name == "schema_version":
                arrays.append(pa.array(np.full(n, SCHEMA_VERSION, dtype=np.int32)))
            elif f.name in rows.column_names:
                arrays.append(rows.column(f.name).cast(f.type))
            else:
                arrays.append(pa.nulls(n, f.type))
        return pa.Table.from_arrays(arrays, schema=schema)
    cols: dict[str, list[Any]] = {n: [] for n in schema.names}
    for i, row in enumerate(rows):
        unknown = set(row) - names
        if unknown:
            raise ValueError(
                f"row {i} for table {table!r} has unknown columns {sorted(unknown)}; "
                f"columns are: {', '.join(schema.names)}"
            )
        for n in schema.names:
            cols[n].append(SCHEMA_VERSION if n == "schema_version" else row.get(n))
    return pa.Table.from_pydict(cols, schema=schema)


def conform(table: str, data: pa.Table, source: str = "") -> pa.Table:
    """A table read from a file -> the current schema of ``table``.

    Files of older versions lack the columns added since: they read as null. A file with a
    ``schema_version`` above :data:`SCHEMA_VERSION`, or with columns this version does not
    know, was written by a newer archlab: :class:`SchemaVersionError` says so.
    """
    schema = schema_for(table)
    where = f" ({source})" if source else ""
    if "schema_version" in data.column_names and data.num_rows:
        newest = pc.max(data.column("schema_version")).as_py()
        if newest is not None and newest > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"table {table!r}{where} holds rows of schema version {newest}, but this archlab "
                f"reads versions <= {SCHEMA_VERSION}: upgrade archlab to read it"
            )
    unknown = [c for c in data.column_names if c not in schema.names and c != "run_id"]
    if unknown:
        raise SchemaVersionError(
            f"table {table!r}{where} has columns {unknown} unknown to schema version "
            f"{SCHEMA_VERSION}: it was written by a newer archlab (upgrade) or by another tool"
        )
    n = data.num_rows
    arrays = [
        data.column(f.name).cast(f.type) if f.name in data.column_names else pa.nulls(n, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)
