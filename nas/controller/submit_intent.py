"""The submit window: what the controller was about to submit, written down before it did.

Between ``sbatch`` returning and the journal's ``submit`` line, a crash (SIGKILL, node
failure) leaves array tasks running that the journal does not name. A restart used to see
those candidates as "never submitted" and submit them again: each trained twice, and a crash
*during* the submission left tasks waiting for pickles that never came (they failed after
60 s). So, before ``executor.submit``:

1. :func:`write_intent` writes ``<run_dir>/submit_intent.json`` (tmp, fsync, rename, fsync
   of the directory): the candidate ids in submission order and the executor's
   ``plan_submission()`` — the unique job name the submission will have, its folder, pack
   and array size. Executors that cannot plan (in-process, local processes) get none.
2. After the journal's ``submit`` line, :func:`clear_intent` removes it.
3. A restarted controller calls :func:`recover_submission` before it reconciles: for the
   intent's candidates that the journal still has as asked-not-submitted, the executor's
   ``find_submission`` looks the submission up on the cluster (``sacct --name`` /
   ``squeue --name``, the submitted pickles in the folder), completes a task whose pickle
   was not yet in place, and cancels what it cannot complete. The controller journals what
   was found as a ``submit`` (``recovered: true``) and re-attaches it like any submitted
   candidate; the rest are submitted again (``resubmit``: never submitted).

Example::

    write_intent(run_dir, executor, ["c1", "c2"])     # before executor.submit
    ...                                               # crash here, then on restart:
    found = recover_submission(run_dir, executor, state)
    found.ids, found.jobs, found.refs                 # -> journal a submit, then attach
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from nas.controller.state import ASKED, RunState

__all__ = [
    "INTENT_FILE",
    "Intent",
    "PlansSubmissions",
    "Recovered",
    "clear_intent",
    "read_intent",
    "recover_submission",
    "write_intent",
]

INTENT_FILE = "submit_intent.json"


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
    t: float


@dataclass(frozen=True)
class Recovered:
    """Candidates of an unjournaled submission that were found on the cluster."""

    ids: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    refs: list[dict[str, Any]] = field(default_factory=list)


def _path(run_dir: Path) -> Path:
    return Path(run_dir) / INTENT_FILE


def write_intent(run_dir: Path, executor: object, ids: Sequence[str]) -> Intent | None:
    """Write (durably) what the next ``executor.submit`` of ``ids`` will be; None when the
    executor cannot plan its submissions (nothing to recover then)."""
    if not isinstance(executor, PlansSubmissions) or not ids:
        return None
    intent = Intent(list(ids), executor.plan_submission(), time.time())
    final = _path(run_dir)
    tmp = final.with_name(f".{final.name}.tmp")
    body = json.dumps({"ids": intent.ids, "plan": intent.plan, "t": intent.t}).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    dfd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return intent


def clear_intent(run_dir: Path) -> None:
    """The submission is journaled: forget the intent (a leftover one is harmless: its
    candidates are no longer asked-not-submitted)."""
    _path(run_dir).unlink(missing_ok=True)


def read_intent(run_dir: Path) -> Intent | None:
    try:
        data = json.loads(_path(run_dir).read_text())
        return Intent([str(i) for i in data["ids"]], dict(data["plan"]), float(data["t"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def recover_submission(run_dir: Path, executor: object, state: RunState) -> Recovered:
    """The intent's candidates that the journal has as never submitted but that the
    cluster has (see the module doc); empty when there is nothing to recover."""
    intent = read_intent(run_dir)
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
