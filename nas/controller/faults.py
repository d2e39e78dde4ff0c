"""Test hook: kill the controller with SIGKILL at the Nth passage of a named phase.

``ARCHLAB_FAULT="append:3"`` makes the third passage of the ``append`` phase in this
process end it with ``SIGKILL`` (no cleanup, no flush: a real crash). Several faults may be
given separated by commas. Phases (see :mod:`nas.controller.controller`):

``ask``        after ``strategy.ask`` returned, before the journal has the candidates
``submit``     candidates journaled and stored, before ``executor.submit`` (the submit
               intent is not yet written)
``sbatch``     inside ``executor.submit`` (Slurm): the intent is written and the array
               staged, ``sbatch`` not yet run
``sbatched``   inside ``executor.submit`` (Slurm): ``sbatch`` returned, the tasks' pickles
               are not yet in place (the tasks would wait for them)
``submitted``  after ``executor.submit``, before the journal has the job ids
``append``     after the result is in the store, before the journal has it
``tell``       after the journal has the result, before ``strategy.tell``
``snapshot``   snapshot written to its temporary file, before the rename
``journal``    in the middle of writing a journal line (leaves a torn last line)

Unset (the normal case) costs one dict lookup per passage. The mechanism lives in
:mod:`slurm.faults` (the executor has fault points too); this module re-exports it.
"""

from __future__ import annotations

from slurm.faults import PHASES, die, fault_armed, fault_point

__all__ = ["PHASES", "die", "fault_armed", "fault_point"]
