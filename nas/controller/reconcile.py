"""After a restart: what to do with each candidate the journal has not seen told (pure).

========================================  ==================================================
where the candidate stands                what the controller does
========================================  ==================================================
result journaled, record in the store     tell it
record only in the store                  journal ``result`` (``recognised``), tell it
submitted (a ``submit`` event)            re-attach to its last job (``executor.attach``)
asked, never submitted                    submit it (the same candidate, from the journal)
========================================  ==================================================
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from nas.controller.state import DECIDED, STORED, SUBMITTED, TOLD, RunState

__all__ = ["Plan", "plan"]


@dataclass
class Plan:
    tell: list[str] = field(default_factory=list)  # result journaled and stored
    recognise: list[str] = field(default_factory=list)  # stored, not journaled
    attach: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # id, job, ref
    submit: list[str] = field(default_factory=list)  # asked, never submitted


def plan(state: RunState, stored: Container[str]) -> Plan:
    """The :class:`Plan` for the candidates of ``state`` (``stored``: ids with a record)."""
    p = Plan()
    for cid, e in state.cands.items():
        if e.phase in (DECIDED, TOLD):
            continue
        if e.phase == STORED and cid in stored:
            p.tell.append(cid)
        elif cid in stored:
            p.recognise.append(cid)
        elif e.phase == SUBMITTED:
            ref = e.refs[-1] if len(e.refs) == len(e.jobs) else {}
            p.attach.append((cid, e.jobs[-1], dict(ref)))
        else:
            p.submit.append(cid)
    return p
