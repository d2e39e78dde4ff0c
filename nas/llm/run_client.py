"""The one builder of a run's LLM client (NADER's agents, LAPT's learner, LLMatic's operators).

:func:`run_llm_client` turns the ``llm`` config section into an :class:`LLMClient` wired to
the run:

* every call is one ``llm_calls`` row, appended under the key ``llm-<call_id>`` (call ids
  are deterministic per run: see :mod:`nas.llm.memo`), so writing it again replaces it;
* the budget (``llm.budget_tokens``/``budget_usd``) starts from the calls already stored in
  ``llm_calls`` (:func:`budget_from_store`): the caps hold for the whole run across restarts;
* with ``run_dir`` (a run that can be restarted), the run's :class:`~nas.llm.memo.CallMemo`
  answers calls the run already made from the answers kept on its ``llm_calls`` rows, so a
  restarted run sends no request for work that was already done (a run from before schema
  v5 has its ``RUN/llm_memo.jsonl`` moved into the store first).

Returns None when no endpoint is configured (empty ``llm.base_url``, and not ``replay`` with
a cassette): the strategies then use their offline designers/learners/operators.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from nas.llm.budget import LLMBudget
from nas.llm.client import LLMClient
from nas.llm.config import LLMConfig
from nas.llm.memo import CallMemo, import_memo_file
from nas.llm.structured import ServerProfile
from nas.records import content_hash

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["RowStore", "budget_from_store", "run_llm_client"]


class RowStore(Protocol):
    """What the client needs of a result store."""

    def append(self, table: str, run_id: str, rows: list[dict[str, object]], *,
               key: str | None = None) -> str | None: ...  # fmt: skip

    def read(self, table: str, run_id: str) -> pa.Table: ...


def budget_from_store(cfg: LLMConfig, store: RowStore | None, run_id: str) -> LLMBudget:
    """The run's LLM budget, already charged with the calls stored in ``llm_calls``."""
    budget = LLMBudget(int(cfg.budget_tokens or 0), float(cfg.budget_usd or 0.0))
    if store is None or not run_id:
        return budget
    table = store.read("llm_calls", run_id)
    # one row per call id: a row re-written (same key) after its file was merged is read twice
    rows = {str(r["call_id"]): r for r in table.to_pylist()}
    for row in rows.values():
        if row.get("status") in ("ok", "empty"):
            budget.charge(
                int(row.get("tokens_in") or 0),
                int(row.get("tokens_out") or 0),
                float(row.get("cost_usd") or 0.0),
            )
        else:
            budget.charge_failure()
    return budget


def probe_event(store: RowStore, run_id: str) -> Callable[[ServerProfile], None]:
    """A hook writing the structured-output probe's outcome as an ``llm_structured_probe``
    event of the run. Named by its content: a restart that finds the same server writes no
    new row; a changed server adds one."""

    def write(profile: ServerProfile) -> None:
        payload = json.dumps(profile.as_dict(), sort_keys=True)
        event_id = "llm-structured-probe-" + content_hash(payload, length=12)
        events = store.read("events", run_id)
        if events.num_rows and event_id in events.column("event_id").to_pylist():
            return
        row = {"event_id": event_id, "kind": "llm_structured_probe", "payload": payload,
               "created_at": time.time()}  # fmt: skip
        store.append("events", run_id, [row], key=event_id)

    return write


def run_llm_client(
    cfg: LLMConfig,
    store: RowStore | None = None,
    run_id: str = "",
    run_dir: str | os.PathLike[str] | None = None,
) -> LLMClient | None:
    """The run's client (see the module doc), or None offline. Raises ``ValueError`` for a
    bad ``llm.mode`` or a record/replay mode without a cassette."""
    if cfg.offline:
        return None
    sink = None
    if store is not None and run_id:
        target = store

        def sink(rows: list[dict[str, object]]) -> None:
            for row in rows:
                target.append("llm_calls", run_id, [row], key=f"llm-{row['call_id']}")

    client = LLMClient.from_config(cfg, sink=sink, budget=budget_from_store(cfg, store, run_id))
    if store is not None and run_id:
        client.on_probe = probe_event(store, run_id)
    if run_dir is not None and store is not None and run_id:
        import_memo_file(run_dir, store, run_id)  # a run from before schema v5: once
        client.memo = CallMemo(store, run_id)
    return client
