"""Record/replay cassettes: full endpoint responses keyed by a hash of the request.

A cassette is one JSON file::

    {"version": 1,
     "entries": {KEY: [{"request": {...}, "response": {... full OpenAI JSON ...}}, ...]}}

``KEY = request_key(endpoint, model, messages_or_input, params)``: a SHA-256 prefix of the
canonical JSON of the endpoint, model, messages and sampling parameters (temperature, seed,
max_tokens...), so a changed prompt or a changed temperature is a different key. The same
request made several times (repair turns, repeated proposals) is recorded as a list and
replayed in order; after the last one, the last is served again. A final error (after the
client's retries) is recorded as ``{"error": {"status": 500, "kind": ..., "message": ...}}``
and replayed as the same failure. A key that is absent in replay mode raises
:class:`CassetteMiss` (never a silent live call).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nas.records import canonical_json, content_hash

__all__ = ["Cassette", "CassetteMiss", "request_key"]

CASSETTE_VERSION = 1


class CassetteMiss(LookupError):
    """Replay mode met a request that the cassette does not hold."""


def request_key(endpoint: str, model: str, payload: Any, params: Mapping[str, Any]) -> str:
    """Hash of (endpoint, model, messages/input, sampling params); None-valued params drop."""
    clean = {k: v for k, v in sorted(params.items()) if v is not None}
    return content_hash(endpoint, model, canonical_json(payload), canonical_json(clean), length=24)


class Cassette:
    """A cassette file; thread-safe. ``save()`` writes atomically (tmp + rename)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.entries: dict[str, list[dict[str, Any]]] = {}
        self._cursor: dict[str, int] = {}
        if self.path.exists():
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if int(data.get("version", 0)) > CASSETTE_VERSION:
                raise ValueError(
                    f"cassette {self.path} has version {data.get('version')}; this archlab reads "
                    f"<= {CASSETTE_VERSION}: upgrade archlab or re-record it"
                )
            self.entries = {k: list(v) for k, v in data.get("entries", {}).items()}

    def __len__(self) -> int:
        return sum(len(v) for v in self.entries.values())

    def lookup(self, key: str, describe: str = "") -> dict[str, Any]:
        """The next recorded exchange for ``key`` (in order; the last one repeats)."""
        with self._lock:
            items = self.entries.get(key)
            if not items:
                raise CassetteMiss(
                    f"replay miss: request {key} ({describe}) is not in cassette {self.path} "
                    f"({len(self)} recorded exchanges); re-record it with llm.mode=record "
                    "against a live endpoint, or fix the prompt/params that changed"
                )
            i = self._cursor.get(key, 0)
            self._cursor[key] = i + 1
            return items[min(i, len(items) - 1)]

    def add(self, key: str, exchange: dict[str, Any]) -> None:
        with self._lock:
            self.entries.setdefault(key, []).append(exchange)

    def save(self) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            text = json.dumps(
                {"version": CASSETTE_VERSION, "entries": self.entries}, indent=1, sort_keys=True
            )
            tmp.write_text(text + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
