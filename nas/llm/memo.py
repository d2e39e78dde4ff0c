"""The run's memory of LLM calls: a restarted run never pays for a call twice.

A search restored from the store (``Strategy.rebuild``) can re-derive state that an LLM
produced — LAPT learns its principles again, a NADER ask cut short by a kill is made again.
:class:`CallMemo` answers those calls from what the run already received, so the endpoint
gets no request and ``llm_calls`` no second row:

* every chat request gets a deterministic call id, ``content_hash(request key, scope, n)``:
  the *scope* is the controller's step (:func:`memo_scope`, set around each ask and tell with
  the journal's op number, which a step cut short by a kill keeps when it is made again) and
  ``n`` counts the earlier requests with the same key in that step. So the ids, and the
  answers a re-done step gets, do not depend on how many processes the run took (the
  client's ``llm_calls`` row is keyed by the id, so re-writing it replaces the row);
* calls made outside any step — a strategy's ``rebuild`` re-deriving what it learned — take
  the recorded answers of their key in the order the run received them;
* inside an attribution scope (``LLMClient.scope``: a NADER step) the request key also
  names that step; a retried attempt's row is keyed ``<id>-a<attempt>``, so re-writing the
  rows replaces them;
* before a request goes out, the memo is asked for ``(key, n)``; a hit is served from the
  memo (no request, no budget charge: the stored row was charged when the budget was
  read from ``llm_calls``; inside a scope the recorded rows are emitted again under their
  own keys, because a step cut short by a kill held them unwritten — no new row); a miss
  goes to the endpoint, and the final response — or the final error — with the call's rows
  is appended to the memo file (one JSON line, flushed before the answer is
  used, so a ``kill -9`` right after keeps it).

The memo lives in the run directory (``<run_dir>/llm_memo.jsonl``) beside the journal; a
torn last line (a kill while writing) is ignored. Embedding calls are not memoised.

    >>> m = CallMemo("/tmp/run/llm_memo.jsonl")                       # doctest: +SKIP
    >>> call_id, hit = m.next("k1")                                   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from nas.records import content_hash

__all__ = ["MEMO_FILE", "CallMemo", "memo_scope"]

MEMO_FILE = "llm_memo.jsonl"

_SCOPE: ContextVar[str] = ContextVar("archlab_llm_memo_scope", default="")


@contextmanager
def memo_scope(scope: str) -> Iterator[None]:
    """Calls inside are memoised under ``scope`` (the controller's step, e.g. ``"op12"``)."""
    token = _SCOPE.set(scope)
    try:
        yield
    finally:
        _SCOPE.reset(token)


class CallMemo:
    """Append-only memo of chat exchanges keyed by ``(request key, occurrence)``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], int] = {}  # (scope, key) -> occurrences asked
        self._entries: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._by_key: dict[str, list[dict[str, Any]]] = {}  # key -> entries in arrival order
        self.hits = 0  # calls served from the memo (no request)
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    e = json.loads(line)
                    self._add((str(e.get("scope", "")), str(e["key"]), int(e["n"])), e)
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line

    def _add(self, at: tuple[str, str, int], entry: dict[str, Any]) -> None:
        self._entries[at] = entry
        self._by_key.setdefault(at[1], []).append(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def next(self, key: str) -> tuple[str, int, dict[str, Any] | None]:
        """``(call_id, n, recorded exchange or None)`` for the next request with ``key`` in
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

    def record(self, key: str, n: int, exchange: dict[str, Any]) -> None:
        """Remember the final ``{"response": ...}`` or ``{"error": {...}}`` of the ``n``-th
        request with ``key`` in the current scope."""
        scope = _SCOPE.get()
        entry = {"scope": scope, "key": key, "n": n, **exchange}
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            self._add((scope, key, n), entry)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
