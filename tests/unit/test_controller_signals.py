"""Signal semantics of the controller: USR2 = checkpoint + requeue; TERM after USR2 or with a
pending preemption/requeue = requeue; a bare TERM = stop, ``cancelled``; CANCEL wins."""

from __future__ import annotations

import signal

import pytest

from nas.controller.signals import (
    CANCELLED,
    JobView,
    SignalPolicy,
    loop_stop_reason,
    parse_job_view,
)

pytestmark = pytest.mark.unit

USR2, TERM = signal.SIGUSR2, signal.SIGTERM

# what `scontrol show job` printed on the local cluster at the TERM of `scancel` (Restarts
# unchanged) and of `scontrol requeue` (Restarts already counts the coming attempt)
SCANCEL = "JobId=16 JobName=x\n   JobState=COMPLETING Reason=None Dependency=(null)\n   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0\n"
REQUEUE = SCANCEL.replace("Restarts=0", "Restarts=1")


def policy(view: JobView | None, tmp_path, restart_count: int = 0) -> SignalPolicy:
    return SignalPolicy(job_id="16", restart_count=restart_count,
                        cancel_file=tmp_path / "CANCEL", probe=lambda _: view)  # fmt: skip


def test_parse_job_view():
    assert parse_job_view(SCANCEL) == JobView("COMPLETING", 0, "")
    assert parse_job_view(REQUEUE).restarts == 1
    assert parse_job_view("JobState=RUNNING PreemptTime=2026-12-02T01:00:00").preempt_time
    assert parse_job_view("JobState=RUNNING PreemptTime=None").preempt_time == ""


def test_bare_term_is_a_cancel(tmp_path):
    p = policy(parse_job_view(SCANCEL), tmp_path)
    d = p.on_signal(TERM)
    assert d.why == CANCELLED and not d.requeue
    assert not p.should_requeue(loop_stop_reason(d.why, False))
    assert loop_stop_reason(d.why, False) == "cancelled"


def test_bare_term_without_slurm_answer_is_a_cancel(tmp_path):
    assert policy(None, tmp_path).on_signal(TERM).why == CANCELLED


def test_usr2_requeues_and_a_later_term_keeps_it(tmp_path):
    p = policy(parse_job_view(SCANCEL), tmp_path)
    d = p.on_signal(USR2)
    assert d.why == "SIGUSR2" and d.requeue
    reason = loop_stop_reason(d.why, False)
    assert reason == "interrupted:SIGUSR2" and p.should_requeue(reason)
    d2 = p.on_signal(TERM)  # the time limit (or our own requeue) after the warning
    assert d2.requeue and p.should_requeue(reason)


def test_term_during_a_slurm_requeue_stops_without_requeueing_again(tmp_path):
    p = policy(parse_job_view(REQUEUE), tmp_path)
    d = p.on_signal(TERM)
    assert d.why == "SIGTERM" and not d.requeue  # Slurm brings the job back itself
    assert loop_stop_reason(d.why, False) == "interrupted:SIGTERM"


def test_term_on_a_second_attempt_compares_with_its_restart_count(tmp_path):
    p = policy(parse_job_view(REQUEUE), tmp_path, restart_count=1)  # Restarts=1 is us
    assert p.on_signal(TERM).why == CANCELLED


def test_term_with_pending_preemption_requeues(tmp_path):
    view = JobView("RUNNING", 0, "2026-12-02T01:00:00")
    d = policy(view, tmp_path).on_signal(TERM)
    assert d.requeue and d.why == "SIGTERM"


def test_cancel_file_makes_any_signal_a_cancel_and_stays(tmp_path):
    p = policy(parse_job_view(REQUEUE), tmp_path)
    (tmp_path / "CANCEL").write_text("x")
    assert p.on_signal(USR2).why == CANCELLED
    assert p.on_signal(TERM).why == CANCELLED
    assert not p.should_requeue("interrupted:SIGUSR2")
    # the loop's own CANCEL branch runs (it cancels the in-flight tasks)
    assert loop_stop_reason(CANCELLED, True) == ""


def test_a_cancel_is_not_undone_by_a_later_usr2(tmp_path):
    p = policy(parse_job_view(SCANCEL), tmp_path)
    p.on_signal(TERM)
    assert p.on_signal(USR2).why == CANCELLED and not p.should_requeue("cancelled")


def test_outside_slurm_nothing_is_queried(tmp_path):
    asked: list[str] = []
    p = SignalPolicy(cancel_file=tmp_path / "CANCEL", probe=lambda j: asked.append(j) or None)
    assert p.on_signal(TERM).why == CANCELLED and asked == []


def test_from_env(tmp_path):
    p = SignalPolicy.from_env(
        tmp_path / "CANCEL", {"SLURM_JOB_ID": "9", "SLURM_RESTART_COUNT": "2"}
    )
    assert p.job_id == "9" and p.restart_count == 2
