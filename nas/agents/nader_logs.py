"""NADER's Reflector logs -> experience items (an importer; the experience protocol lives in
:mod:`nas.agents.experience`, which imports nothing of the agents)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nas.agents.reflector import categorize_error

__all__ = ["nader_experience_items"]


def nader_experience_items(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Experiences distilled by NADER's Reflector, as items for ``ExperiencePool.add_many``.

    Two formats: develop experience (``{model: {"inspiration", "base"|"stem"|"downsample":
    [{"error", "experience"}]}}``: how to write a valid block, category from the error) and
    research experience (``{inspiration: [tip, ...]}``: how to design a better block,
    category ``degradation``). Metadata: ``team``, ``suggestion``, ``errors``, ``role``
    (``base``/``stem``/``downsample``), ``source="imported"``, ``origin`` (the model key and
    file). Keyed by the suggestion (``key``), as NADER retrieves them."""
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
