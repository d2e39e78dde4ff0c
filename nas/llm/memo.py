"""The run's memory of LLM calls: a restarted run never pays for a call twice.

A search restored from the store (``Strategy.rebuild``) can re-derive state that an LLM
produced — LAPT learns its principles again, a NADER ask cut short by a kill is made again.
:class:`CallMemo` answers those calls from what the run already received, so the endpoint
gets no request and ``llm_calls`` no second row:

* every chat request gets a deterministic call id, ``content_hash(request key, n)`` where
  ``n`` counts the earlier requests with the same key in this process — inside an
  attribution scope (``LLMClient.scope``: a NADER step) the key names the step, so ``n``
  counts within the step and a later step's identical request is a new call after a
  restart too (the client's ``llm_calls`` row is keyed by the id, a retried attempt's row by
  ``<id>-a<attempt>``, so re-writing them replaces the rows);
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
from pathlib import Path
from typing import Any

from nas.records import content_hash

__all__ = ["MEMO_FILE", "CallMemo"]

MEMO_FILE = "llm_memo.jsonl"


class CallMemo:
    """Append-only memo of chat exchanges keyed by ``(request key, occurrence)``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}  # request key -> occurrences asked in this process
        self._entries: dict[tuple[str, int], dict[str, Any]] = {}
        self.hits = 0  # calls served from the memo (no request)
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    e = json.loads(line)
                    self._entries[(str(e["key"]), int(e["n"]))] = e
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line

    def __len__(self) -> int:
        return len(self._entries)

    def next(self, key: str) -> tuple[str, int, dict[str, Any] | None]:
        """``(call_id, n, recorded exchange or None)`` for the next request with ``key``."""
        with self._lock:
            n = self._seen.get(key, 0)
            self._seen[key] = n + 1
            hit = self._entries.get((key, n))
            if hit is not None:
                self.hits += 1
        return f"c{content_hash(key, str(n), length=15)}", n, hit

    def record(self, key: str, n: int, exchange: dict[str, Any]) -> None:
        """Remember the final ``{"response": ...}`` or ``{"error": {...}}`` of ``(key, n)``."""
        entry = {"key": key, "n": n, **exchange}
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            self._entries[(key, n)] = entry
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
