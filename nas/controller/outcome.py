"""An executor's outcome -> the candidate's TrialRecord (the controller's one mapping)."""

from __future__ import annotations

import time

from nas.records import Candidate, TrialRecord, TrialState
from slurm.executor import Handle, OutcomeState

__all__ = ["record_from_outcome"]

_OUTCOME_TO_STATE = {
    OutcomeState.FAILED: TrialState.FAILED,
    OutcomeState.TIMEOUT: TrialState.TIMEOUT,
    OutcomeState.CANCELLED: TrialState.CANCELLED,  # [issue 18] not a bad architecture
    OutcomeState.PREEMPTED: TrialState.PREEMPTED,
    OutcomeState.NODE_FAIL: TrialState.FAILED,
}


def record_from_outcome(handle: Handle, cand: Candidate) -> TrialRecord:
    """The TrialRecord of a finished handle: the evaluator's record, or a failure record."""
    out = handle.outcome
    assert out is not None
    if out.ok and isinstance(out.value, TrialRecord) and out.value.candidate_id == cand.id:
        return out.value.with_(job_id=handle.job_id, attempt=max(out.attempts, out.value.attempt))
    state = _OUTCOME_TO_STATE.get(out.state, TrialState.FAILED)
    error = out.error or f"the executor returned {type(out.value).__name__}, not this TrialRecord"
    now = time.time()
    return TrialRecord(
        cand.id,
        state,
        error=error,
        attempt=max(1, out.attempts),
        job_id=handle.job_id,
        started_at=now,
        finished_at=now,
    )
