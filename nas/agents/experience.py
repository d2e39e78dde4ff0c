"""What the agents need of an experience pool, and an in-memory one for tests/offline use.

The real pool is :class:`store.experience.ExperiencePool` (Parquet + hnswlib); anything with
the same ``add``/``query`` works. :class:`MemoryExperiencePool` ranks by word overlap
(Jaccard), keeps nothing on disk, and is what unit tests use.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "ExperienceHit",
    "ExperiencePoolLike",
    "MemoryExperiencePool",
    "dedupe",
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
