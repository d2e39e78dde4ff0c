"""The knowledge pool: inspirations (design ideas) with the paper they came from.

Formats read by :meth:`KnowledgePool.load`:

* NADER's extracted pool (``inspirations_*.json``: ``[{"id", "paper_id", "inspiration"}]``)
  and proposals (``[{"id", "paper_id", "proposal"}]``);
* JSONL or JSON lists of ``{"id", "text", "paper_id", ...}`` (what :class:`~nas.agents.reader.Reader`
  writes with :meth:`KnowledgePool.save`).

:meth:`KnowledgePool.builtin` is the small pool written for archlab (one idea per
rule-based transformation, see :mod:`nas.agents.designer`).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Inspiration", "KnowledgePool", "builtin_pool_notice"]


def builtin_pool_notice(n: int) -> str:
    """What an LLM run on the built-in pool says at start (NADER's own pool has 5,411)."""
    return (
        f"NADER runs with an LLM on archlab's built-in knowledge pool ({n} ideas, one per "
        "rule-based transformation), not on papers: build a pool with `archlab knowledge "
        "build SOURCES... -o POOL.jsonl` (or use NADER's published inspirations_*.json) and "
        "set strategy.nader.knowledge=POOL"
    )


@dataclass(frozen=True)
class Inspiration:
    id: str
    text: str
    paper_id: str = ""  # the paper it was extracted from ("archlab-builtin" for ours)
    source: str = ""  # pool file or "builtin"
    transform: str = ""  # built-in pool: the designer transformation it pairs with

    @property
    def ref(self) -> str:
        """What is stored as a candidate's ``origin.suggestion``: id and text."""
        return f"{self.id}: {self.text}"


class KnowledgePool:
    def __init__(self, items: Iterable[Inspiration]) -> None:
        self.items: list[Inspiration] = []
        seen: set[str] = set()
        for it in items:
            if it.id in seen:
                raise ValueError(f"inspiration id {it.id!r} appears twice in the pool")
            seen.add(it.id)
            self.items.append(it)
        self._by_id = {it.id: it for it in self.items}

    def __len__(self) -> int:
        return len(self.items)

    def get(self, inspiration_id: str) -> Inspiration:
        return self._by_id[inspiration_id]

    @property
    def papers(self) -> set[str]:
        return {it.paper_id for it in self.items}

    def sample(self, rng: random.Random, n: int, exclude: Iterable[str] = ()) -> list[Inspiration]:
        """Up to ``n`` distinct inspirations not in ``exclude`` (ids), uniformly."""
        ex = set(exclude)
        free = [it for it in self.items if it.id not in ex]
        return rng.sample(free, min(n, len(free)))

    @classmethod
    def builtin(cls) -> KnowledgePool:
        from nas.agents.designer import BUILTIN_KNOWLEDGE

        return cls(
            Inspiration(d["id"], d["text"], d["paper_id"], "builtin", d["transform"])
            for d in BUILTIN_KNOWLEDGE
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KnowledgePool:
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"knowledge pool {p} does not exist (strategy.nader.knowledge)")
        raw = p.read_text(encoding="utf-8")
        if p.suffix == ".jsonl":
            rows = [json.loads(ln) for ln in raw.splitlines() if ln.strip()]
        else:
            data = json.loads(raw)
            rows = data if isinstance(data, list) else data.get("inspirations", [])
        items = []
        for i, r in enumerate(rows):
            text = r.get("text") or r.get("inspiration") or r.get("proposal")
            if not text:
                raise ValueError(
                    f"{p}: row {i} has no 'text'/'inspiration'/'proposal' field: {sorted(r)}"
                )
            items.append(
                Inspiration(
                    str(r.get("id", i + 1)),
                    str(text).strip(),
                    str(r.get("paper_id", "")),
                    p.name,
                    str(r.get("transform", "")),
                )
            )
        return cls(items)

    def save(self, path: str | os.PathLike[str]) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "w", encoding="utf-8") as fh:
            for it in self.items:
                fh.write(json.dumps(asdict(it), sort_keys=True) + "\n")
