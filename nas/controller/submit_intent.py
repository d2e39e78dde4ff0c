"""The submit window: what the controller was about to submit, journaled before it did.

Between ``sbatch`` returning and the journal's ``submit`` line, a crash (SIGKILL, node
failure) leaves array tasks running that the journal does not name. A restart used to see
those candidates as "never submitted" and submit them again: each trained twice, and a crash
*during* the submission left tasks waiting for pickles that never came (they failed after
60 s). So, before ``executor.submit``:

1. :func:`plan_intent` asks the executor for its ``plan_submission()`` — the unique job name
   the submission will have, its folder, pack and array size — and the controller journals
   it as an ``intent`` event (fsynced) with the candidate ids in submission order and the
   time (``since``). Executors that cannot plan (in-process, local processes) get none.
2. The journal's ``submit`` line that follows ends the intent (the fold,
   :attr:`RunState.intent <nas.controller.state.RunState.intent>`, forgets it).
3. A restarted controller calls :func:`recover_submission` with its fold before it
   reconciles: for the intent's candidates that the journal still has as
   asked-not-submitted, the executor's ``find_submission`` looks the submission up on the
   cluster (``sacct --name`` / ``squeue --name``, the submitted pickles in the folder),
   completes a task whose pickle was not yet in place, and cancels what it cannot complete.
   The controller journals what was found as a ``submit`` (``recovered: true``) and
   re-attaches it like any submitted candidate; the rest are submitted again (``resubmit``:
   never submitted), and an intent that found nothing is ended by an empty ``intent``.

Runs from before (archlab's schema v4 and earlier) wrote the intent to
``RUN/submit_intent.json``; :func:`legacy_intent` reads such a file once so the controller
journals it, then :func:`drop_legacy_intent` removes it.

Example::

    intent = plan_intent(executor, ["c1", "c2"])       # before executor.submit
    journal.append("intent", **intent.fields())         # fsynced
    ...                                                 # crash here, then on restart:
    found = recover_submission(state, executor)         # state: the journal's fold
    found.ids, found.jobs, found.refs                   # -> journal a submit, then attach
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from nas.controller.state import ASKED, RunState

__all__ = [
    "INTENT_EVENT",
    "LEGACY_INTENT_FILE",
    "Intent",
    "PlansSubmissions",
    "Recovered",
    "drop_legacy_intent",
    "legacy_intent",
    "plan_intent",
    "recover_submission",
]

INTENT_EVENT = "intent"
LEGACY_INTENT_FILE = "submit_intent.json"  # where runs before kept it (read once, then removed)


@runtime_checkable
class PlansSubmissions(Protocol):
    """An executor that can say beforehand what a submission will be called, and find it."""

    def plan_submission(self) -> dict[str, Any]: ...

    def find_submission(
        self, plan: dict[str, Any], keys: Sequence[str], since: float
    ) -> dict[str, tuple[str, dict[str, Any]]]: ...


@dataclass(frozen=True)
class Intent:
    ids: list[str]
    plan: dict[str, Any]
    t: float  # when it was planned: the cluster is searched for submissions since then

    def fields(self) -> dict[str, Any]:
        """The ``intent`` journal event's fields."""
        return {"ids": list(self.ids), "plan": dict(self.plan), "since": self.t}

    @classmethod
    def from_fields(cls, data: dict[str, Any] | None) -> Intent | None:
        """The intent of an ``intent`` event's fields (or the fold's copy); None when empty."""
        if not data or not data.get("ids"):
            return None
        try:
            return cls([str(i) for i in data["ids"]], dict(data["plan"]), float(data["since"]))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Recovered:
    """Candidates of an unjournaled submission that were found on the cluster."""

    ids: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    refs: list[dict[str, Any]] = field(default_factory=list)


def plan_intent(executor: object, ids: Sequence[str]) -> Intent | None:
    """What the next ``executor.submit`` of ``ids`` will be (to journal before it); None when
    the executor cannot plan its submissions (nothing to recover then)."""
    if not isinstance(executor, PlansSubmissions) or not ids:
        return None
    return Intent(list(ids), executor.plan_submission(), time.time())


def legacy_intent(run_dir: Path) -> Intent | None:
    """The intent a run from before left in ``RUN/submit_intent.json``, if any."""
    try:
        data = json.loads((Path(run_dir) / LEGACY_INTENT_FILE).read_text())
        return Intent([str(i) for i in data["ids"]], dict(data["plan"]), float(data["t"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def drop_legacy_intent(run_dir: Path) -> None:
    """Remove ``RUN/submit_intent.json`` (its intent is in the journal now)."""
    (Path(run_dir) / LEGACY_INTENT_FILE).unlink(missing_ok=True)


def recover_submission(state: RunState, executor: object) -> Recovered:
    """The candidates of the fold's open intent that the journal has as never submitted but
    that the cluster has (see the module doc); empty when there is nothing to recover."""
    intent = Intent.from_fields(state.intent)
    if intent is None:
        return Recovered()
    pending = {cid for cid in intent.ids if cid in state.cands and state.cands[cid].phase == ASKED}
    if not pending or not isinstance(executor, PlansSubmissions):
        return Recovered()
    if intent.plan.get("kind") != executor.plan_submission().get("kind"):
        return Recovered()
    found = executor.find_submission(intent.plan, intent.ids, intent.t)
    ids = [cid for cid in intent.ids if cid in pending and cid in found]
    return Recovered(ids, [found[c][0] for c in ids], [found[c][1] for c in ids])
