"""Test hook: kill this process with SIGKILL at the Nth passage of a named phase.

``ARCHLAB_FAULT="append:3"`` makes the third passage of the ``append`` phase in this
process end it with ``SIGKILL`` (no cleanup, no flush: a real crash). Several faults may be
given separated by commas. The phases of the controller are described in
:mod:`nas.controller.faults`; the executor's own (inside the submit window):

``sbatch``     an array's pickles and script are staged, ``sbatch`` not yet run
``sbatched``   ``sbatch`` returned the array id, the tasks' pickles are not yet in place

Unset (the normal case) costs one dict lookup per passage. Lives in ``slurm/`` (which never
imports ``nas``) so that the executor can have fault points too.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

__all__ = ["PHASES", "die", "fault_armed", "fault_point"]

PHASES = (
    "ask",
    "submit",
    "sbatch",
    "sbatched",
    "submitted",
    "append",
    "tell",
    "snapshot",
    "journal",
)
ENV = "ARCHLAB_FAULT"
_passages: Counter[str] = Counter()


def _targets() -> dict[str, int]:
    spec = os.environ.get(ENV, "")
    out: dict[str, int] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        phase, _, count = item.partition(":")
        if phase not in PHASES or not count.isdigit():
            raise ValueError(f"{ENV}={spec!r}: use phase:count with phase in {', '.join(PHASES)}")
        out[phase] = int(count)
    return out


def fault_armed(phase: str) -> bool:
    """Count one passage of ``phase``; True when this passage must end the process."""
    if ENV not in os.environ:
        return False
    _passages[phase] += 1
    return _targets().get(phase) == _passages[phase]


def die() -> None:
    """End this process the hard way (SIGKILL: no handlers, no buffers flushed)."""
    os.kill(os.getpid(), signal.SIGKILL)


def fault_point(phase: str) -> None:
    """Die here if ``ARCHLAB_FAULT`` names this passage of ``phase``."""
    if fault_armed(phase):
        die()
