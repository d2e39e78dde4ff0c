"""The run's memory of LLM calls, kept in the store: a restarted run never pays for a call twice.

A search restored from the store (``Strategy.rebuild``) can re-derive state that an LLM
produced — LAPT learns its principles again, a NADER ask cut short by a kill is made again.
:class:`CallMemo` answers those calls from what the run already received, so the endpoint
gets no request and ``llm_calls`` no second row. The memo *is* the ``llm_calls`` table: the
final row of every chat call keeps its answer (``answer``: the response body or the error,
with the rows of the retried attempts before it) under ``(memo_scope, memo_key, memo_n)``
(schema v5), so a restart reopens the store and the journal and nothing else:

* every chat request gets a deterministic call id, ``content_hash(request key, scope, n)``:
  the *scope* is the controller's step (:func:`memo_scope`, set around each ask and tell with
  the journal's op number, which a step cut short by a kill keeps when it is made again) and
  ``n`` counts the earlier requests with the same key in that step. So the ids, and the
  answers a re-done step gets, do not depend on how many processes the run took (the
  client's ``llm_calls`` row is keyed ``llm-<call id>``, so re-writing it replaces the row);
* calls made outside any step — a strategy's ``rebuild`` re-deriving what it learned — take
  the recorded answers of their key in the order the run received them (``created_at``);
* inside an attribution scope (``LLMClient.scope``: a NADER step) the request key also
  names that step; a retried attempt's row is keyed ``<id>-a<attempt>``, so re-writing the
  rows replaces them;
* a call the endpoint did not answer (:data:`nas.llm.reach.UNREACHABLE`: connection,
  timeout, auth, not_found) is kept on its row but is no answer: a step made again (after
  the run stopped as ``llm_unreachable``) sends that request again;
* before a request goes out, the memo is asked for ``(key, n)``; a hit is served from the
  store (no request, no budget charge: the stored row was charged when the budget was
  read from ``llm_calls``; inside a scope the recorded rows are emitted again under their
  own keys, because a step cut short by a kill held them unattributed — no new row; the
  client logs ``answered from the run's store``); a miss goes to the endpoint, and the
  final row with its answer is written to the store at once (:meth:`CallMemo.record`,
  before the answer is used, so a ``kill -9`` right after keeps it), whatever scope holds
  the row for attribution (the scope's write later replaces it, answer included).

Runs from before schema v5 kept the memo in ``RUN/llm_memo.jsonl``: :func:`import_memo_file`
moves its answers into the store once (the file is renamed ``llm_memo.jsonl.imported``).
Embedding calls are not memoised (they get a deterministic id only).

    >>> m = CallMemo(store, "run1")                                    # doctest: +SKIP
    >>> call_id, n, hit = m.next("k1")                                 # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nas.llm.reach import UNREACHABLE
from nas.records import content_hash

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["LEGACY_MEMO_FILE", "CallMemo", "Known", "MemoStore", "import_memo_file", "memo_scope"]

LEGACY_MEMO_FILE = "llm_memo.jsonl"  # where runs before schema v5 kept the memo

_SCOPE: ContextVar[str] = ContextVar("archlab_llm_memo_scope", default="")
_NOT_A_COLUMN = ("run_id", "schema_version")  # added by the store when read

log = logging.getLogger(__name__)


class MemoStore(Protocol):
    """What the memo needs of a result store."""

    def append(self, table: str, run_id: str, rows: list[dict[str, object]], *,
               key: str | None = None) -> str | None: ...  # fmt: skip

    def read(self, table: str, run_id: str) -> pa.Table: ...


@contextmanager
def memo_scope(scope: str) -> Iterator[None]:
    """Calls inside are memoised under ``scope`` (the controller's step, e.g. ``"op12"``)."""
    token = _SCOPE.set(scope)
    try:
        yield
    finally:
        _SCOPE.reset(token)


@dataclass(frozen=True)
class Known:
    """A call the run already made: its answer and its rows (retried attempts, then the
    final request), as the store holds them."""

    response: dict[str, Any] | None  # the endpoint's body; None when the call failed
    error: dict[str, str] | None  # {"kind", "message"} of a failed call
    rows: list[dict[str, Any]]


def _known(row: Mapping[str, Any]) -> Known | None:
    try:
        answer = json.loads(str(row["answer"]))
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    final = {k: v for k, v in row.items() if k not in _NOT_A_COLUMN}
    attempts = [dict(a) for a in answer.get("attempts") or [] if isinstance(a, dict)]
    rows = [{**r, "step": None, "fallback": None} for r in [*attempts, final]]
    resp, err = answer.get("response"), answer.get("error")
    if isinstance(err, dict) and err.get("kind") in UNREACHABLE:
        return None  # the endpoint did not answer: a step made again asks again
    return Known(
        resp if isinstance(resp, dict) else None,
        {str(k): str(v) for k, v in err.items()} if isinstance(err, dict) else None,
        rows,
    )


class CallMemo:
    """The answered chat calls of one run, read from and written to its ``llm_calls``."""

    def __init__(self, store: MemoStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], int] = {}  # (scope, key) -> occurrences asked
        self._entries: dict[tuple[str, str, int], Known] = {}
        self._by_key: dict[str, list[Known]] = {}  # key -> entries in arrival order
        self.hits = 0  # calls served from the store (no request)
        latest: dict[str, dict[str, Any]] = {}  # call id -> row (a re-written row: one)
        for row in store.read("llm_calls", run_id).to_pylist():
            if row.get("answer") is not None and row.get("memo_key") is not None:
                latest[str(row["call_id"])] = row
        for row in sorted(latest.values(), key=lambda r: float(r.get("created_at") or 0.0)):
            known = _known(row)
            if known is not None:
                at = (
                    str(row.get("memo_scope") or ""),
                    str(row["memo_key"]),
                    int(row["memo_n"] or 0),
                )
                self._add(at, known)

    def _add(self, at: tuple[str, str, int], known: Known) -> None:
        if at not in self._entries:
            self._by_key.setdefault(at[1], []).append(known)
        self._entries[at] = known

    def __len__(self) -> int:
        return len(self._entries)

    def next(self, key: str) -> tuple[str, int, Known | None]:
        """``(call_id, n, the recorded call or None)`` for the next request with ``key`` in
        the current :func:`memo_scope`."""
        scope = _SCOPE.get()
        with self._lock:
            n = self._seen.get((scope, key), 0)
            self._seen[(scope, key)] = n + 1
            if scope:
                hit = self._entries.get((scope, key, n))
            else:  # outside a step (a rebuild re-deriving): the n-th answer the run received
                earlier = self._by_key.get(key, [])
                hit = earlier[n] if n < len(earlier) else None
            if hit is not None:
                self.hits += 1
        return f"c{content_hash(key, scope, str(n), length=15)}", n, hit

    def record(
        self,
        key: str,
        n: int,
        row: dict[str, Any],
        *,
        attempts: Sequence[Mapping[str, Any]] = (),
        response: Mapping[str, Any] | None = None,
        error: Mapping[str, str] | None = None,
    ) -> None:
        """Keep the final ``response`` (or ``error``) of the ``n``-th request with ``key`` in
        the current scope on its final ``row`` (the row dict is updated, so whoever writes it
        later writes the answer too) and write the row to the store now."""
        scope = _SCOPE.get()
        answer: dict[str, Any] = {
            "attempts": [{**a, "step": None, "fallback": None} for a in attempts]
        }
        if response is not None:
            answer["response"] = dict(response)
        if error is not None:
            answer["error"] = dict(error)
        row.update(memo_scope=scope, memo_key=key, memo_n=n,
                   answer=json.dumps(answer, separators=(",", ":"), default=str))  # fmt: skip
        stored = {**row, "step": None, "fallback": None}
        self.store.append("llm_calls", self.run_id, [stored], key=f"llm-{row['call_id']}")
        with self._lock:
            known = _known(stored)
            if known is not None:
                self._add((scope, key, n), known)


def import_memo_file(run_dir: str | os.PathLike[str], store: MemoStore, run_id: str) -> int:
    """Move the answers of a run's ``llm_memo.jsonl`` (archlab before schema v5) into the
    store (call it before the run's :class:`CallMemo` is opened); returns how many. The
    file is renamed ``llm_memo.jsonl.imported`` afterwards, so the import runs once;
    a torn last line (a kill while writing) is skipped."""
    path = Path(run_dir) / LEGACY_MEMO_FILE
    if not path.exists():
        return 0
    rows: list[dict[str, object]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            e = json.loads(line)
            made = [dict(r) for r in e["rows"]]
            final, attempts = made[-1], made[:-1]
            answer: dict[str, Any] = {"attempts": attempts}
            for part in ("response", "error"):
                if part in e:
                    answer[part] = e[part]
            final.update(
                memo_scope=str(e.get("scope", "")),
                memo_key=str(e["key"]),
                memo_n=int(e["n"]),
                answer=json.dumps(answer, separators=(",", ":")),
            )
            rows.append({k: v for k, v in final.items() if k not in _NOT_A_COLUMN})
        except (ValueError, KeyError, TypeError, IndexError):
            continue  # a torn last line
    for row in rows:
        store.append("llm_calls", run_id, [row], key=f"llm-{row['call_id']}")
    path.rename(path.with_name(LEGACY_MEMO_FILE + ".imported"))
    log.warning("moved %d LLM answer(s) of %s into the store's llm_calls (schema v5); the file "
                "is kept as %s.imported", len(rows), path, LEGACY_MEMO_FILE)  # fmt: skip
    return len(rows)
