"""The controller: restore from journal + store, then ask -> submit -> store -> tell.

:class:`Controller` is the one loop of every run (fresh start and resume are the same path;
there is no second, in-memory loop); :mod:`nas.controller.journal` the append-only event
log, :mod:`nas.controller.state` the fold that ``status`` also reads,
:mod:`nas.controller.snapshot` atomic snapshots of the fold, :mod:`nas.controller.restore`
the strategy's restore from the store, :mod:`nas.controller.recorder` the keyed writes.
"""

from nas.controller.budget import Budget
from nas.controller.controller import CANCEL_FILE, Controller, RunSummary, record_from_outcome
from nas.controller.journal import Journal, JournalBusy, JournalCorrupt, read_events
from nas.controller.state import RunState, fold

__all__ = [
    "CANCEL_FILE",
    "Budget",
    "Controller",
    "Journal",
    "JournalBusy",
    "JournalCorrupt",
    "RunState",
    "RunSummary",
    "fold",
    "read_events",
    "record_from_outcome",
]
