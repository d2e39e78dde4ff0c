"""What the agents need of an experience pool, and an in-memory one for tests/offline use.

The real pool is :class:`store.experience.ExperiencePool` (Parquet + hnswlib); anything with
the same ``add``/``query`` works. :class:`MemoryExperiencePool` ranks by word overlap
(Jaccard), keeps nothing on disk, and is what unit tests use.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "ExperienceHit",
    "ExperiencePoolLike",
    "MemoryExperiencePool",
    "dedupe",
    "nader_experience_items",
]


class ExperiencePoolLike(Protocol):
    def add(
        self,
        text: str,
        category: str,
        kind: str,
        metadata: Mapping[str, Any] | None = None,
        candidate_id: str | None = None,
        key: str | None = None,
    ) -> str: ...

    def query(self, text: str, k: int = 5, where: Mapping[str, Any] | None = None) -> list[Any]: ...


@dataclass(frozen=True)
class ExperienceHit:
    id: str
    text: str
    score: float
    category: str
    kind: str
    metadata: dict[str, Any] = field(default_factory=dict)
    candidate_id: str | None = None


def dedupe(tips: Sequence[str]) -> list[str]:
    """``tips`` without repeats (compared case- and whitespace-insensitively), order kept."""
    seen: set[str] = set()
    out: list[str] = []
    for t in tips:
        key = " ".join(t.lower().split())
        if key and key not in seen:
            seen.add(key)
            out.append(t.strip())
    return out


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


class MemoryExperiencePool:
    def __init__(self) -> None:
        self.items: list[ExperienceHit] = []

    def __len__(self) -> int:
        return len(self.items)

    def add(
        self,
        text: str,
        category: str,
        kind: str,
        metadata: Mapping[str, Any] | None = None,
        candidate_id: str | None = None,
        key: str | None = None,
    ) -> str:
        """Like :meth:`store.experience.ExperiencePool.add`: ranked by ``key`` when given."""
        eid = f"exp-{uuid.uuid4().hex[:20]}"
        meta = {**dict(metadata or {}), **({"key": key} if key else {})}
        self.items.append(ExperienceHit(eid, text, 0.0, category, kind, meta, candidate_id))
        return eid

    def query(
        self, text: str, k: int = 5, where: Mapping[str, Any] | None = None
    ) -> list[ExperienceHit]:
        q = _words(text)

        def ok(h: ExperienceHit) -> bool:
            for key, want in (where or {}).items():
                key = key.removeprefix("metadata.")
                have = getattr(h, key, None) if key in ("category", "kind") else h.metadata.get(key)
                wants = want if isinstance(want, list | tuple | set) else [want]
                if have not in wants:
                    return False
            return True

        scored = []
        for h in self.items:
            if ok(h):
                key = h.metadata.get("key")
                w = _words(
                    str(key) if key else h.text + " " + str(h.metadata.get("suggestion", ""))
                )
                s = len(q & w) / max(1, len(q | w))
                scored.append(ExperienceHit(h.id, h.text, s, h.category, h.kind, h.metadata))
        scored.sort(key=lambda h: -h.score)
        return scored[:k]


def nader_experience_items(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Experiences distilled by NADER's Reflector, as items for ``ExperiencePool.add_many``.

    Two formats: develop experience (``{model: {"inspiration", "base"|"stem"|"downsample":
    [{"error", "experience"}]}}``: how to write a valid block, category from the error) and
    research experience (``{inspiration: [tip, ...]}``: how to design a better block,
    category ``degradation``). Metadata: ``team``, ``suggestion``, ``errors``, ``role``
    (``base``/``stem``/``downsample``), ``source="imported"``, ``origin`` (the model key and
    file). Keyed by the suggestion (``key``), as NADER retrieves them."""
    from nas.agents.reflector import categorize_error

    p = Path(path)
    data = json.loads(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a JSON object of NADER experiences")
    items: list[dict[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, list):  # research: inspiration -> tips
            for tip in value:
                meta = {"team": "research", "suggestion": key, "source": "imported",
                        "origin": p.name}  # fmt: skip
                items.append({"text": str(tip), "category": "degradation", "kind": "failure",
                              "metadata": meta, "key": key})  # fmt: skip
            continue
        if not isinstance(value, dict):
            raise ValueError(f"{p}: entry {key!r} is neither a list of tips nor an object")
        suggestion = str(value.get("inspiration", ""))
        for block, entries in value.items():
            if not isinstance(entries, list):
                continue
            for e in entries:
                error = str(e.get("error", ""))
                meta = {"team": "develop", "suggestion": suggestion, "errors": [error],
                        "role": block, "source": "imported", "origin": f"{p.name}:{key}"}  # fmt: skip
                items.append({"text": str(e["experience"]), "category": categorize_error(error),
                              "kind": "failure", "metadata": meta,
                              "key": suggestion or None})  # fmt: skip
    return items
