"""The controller: rebuild from journal + store, then ask -> submit -> store -> tell.

:class:`Controller` is the loop of one run (fresh start and resume are the same path);
:mod:`nas.controller.journal` the append-only event log, :mod:`nas.controller.snapshot`
atomic snapshots, :mod:`nas.controller.state` the fold that ``status`` also reads.
"""

from nas.controller.budget import Budget
from nas.controller.controller import CANCEL_FILE, Controller, RunSummary, record_from_outcome
from nas.controller.journal import Journal, JournalBusy, JournalCorrupt, read_events
from nas.controller.loop import SearchResult, run_search
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
    "SearchResult",
    "fold",
    "read_events",
    "record_from_outcome",
    "run_search",
]
