"""``llm.serve`` drills on the real Slurm cluster, with the scripted test server as the
run's server job (``llm.serve.kind=command``) and NADER asking it (docs/llm-serve.md):

* every LLM call of the run goes to the server job the run started; the job is in the
  journal, and is cancelled when the run is done;
* ``scancel`` of the server job mid-run: the controller notices (the next call cannot
  connect), starts a new job, and the search finishes with no lost or duplicated candidate
  (counted: training starts per candidate, requests the servers received);
* ``scancel`` of the controller, and ``kill -9`` of its process: the server job is gone
  within 60 s;
* ``scontrol requeue`` of the controller: the restarted controller re-attaches to the same
  server job (one server job in ``sacct`` for the run).
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from slurm.cluster import TERMINAL_STATES, SlurmClient
from slurm.service import job_state
from tests.support import cluster_calls as T
from tests.support.serve_drill import (
    check_no_lost_or_duplicated,
    launch,
    server_jobs_in_sacct,
    wait_for,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slurm,
    pytest.mark.skipif(bool(T.cluster_skip_reason()), reason=T.cluster_skip_reason() or "-"),
    pytest.mark.timeout(600),
]


def _state(job: str) -> str:
    return job_state(job)  # squeue first: sacct lags behind a job that just started


def _live(job: str) -> bool:
    return _state(job) not in TERMINAL_STATES | {""}


def _server_job(d) -> str:
    wait_for(lambda: d.server_events("ready"), 180, "the server job to be ready")
    return str(d.server_events("ready")[-1]["job_id"])


def test_every_call_goes_to_the_runs_server_job_which_ends_with_the_run(tmp_path) -> None:
    d = launch(tmp_path, "serve", cluster="slurm", candidates=4, train_s=1.0)
    wait_for(lambda: d.stopped(), 300, "the run to stop")
    assert d.stopped() == "done"
    [sub] = d.server_events("submit")
    [ready] = d.server_events("ready")
    [cancel] = d.server_events("cancel")
    assert sub["job_id"] == ready["job_id"] == cancel["job_id"]
    assert ready["base_url"].startswith(f"http://{ready['node']}:")
    check_no_lost_or_duplicated(d, 4)
    assert d.requests(), "the run made LLM calls"
    assert len({r["pid"] for r in d.requests()}) == 1  # one server answered all of them
    wait_for(lambda: not _live(sub["job_id"]), 60, "the server job to end")


def test_scancel_of_the_server_job_mid_run_starts_a_new_one(tmp_path) -> None:
    n = 6
    d = launch(tmp_path, "srvkill", cluster="slurm", candidates=n, train_s=4.0, delay_s=0.3)
    first = _server_job(d)
    wait_for(lambda: len(d.training_starts()) >= 2, 180, "two trainings")
    SlurmClient().cancel([first])
    wait_for(lambda: d.stopped(), 420, "the run to stop")
    assert d.stopped() == "done"
    subs = d.server_events("submit")
    assert len(subs) == 2 and subs[0]["job_id"] == first != subs[1]["job_id"]
    [end] = d.server_events("end")
    assert end["job_id"] == first
    assert len({r["pid"] for r in d.requests()}) == 2  # both servers answered calls
    check_no_lost_or_duplicated(d, n, in_flight_killed=1)
    assert d.server_events("cancel")[-1]["job_id"] == subs[1]["job_id"]


@pytest.mark.parametrize("how", ["scancel", "kill-9"])
def test_the_server_job_ends_within_60_s_of_its_controller(tmp_path, how) -> None:
    d = launch(tmp_path, f"ctl{how.replace('-', '')}", cluster="slurm", candidates=40,
               train_s=5.0)  # fmt: skip
    server = _server_job(d)
    assert _state(server) == "RUNNING"
    if how == "scancel":
        SlurmClient().cancel([d.controller_job])
    else:  # the controller's process dies without any handler running
        [start] = [e for e in d.events() if e["ev"] == "start"]
        os.kill(int(start["pid"]), signal.SIGKILL)
    t0 = time.monotonic()
    wait_for(lambda: not _live(server), 60, f"the server job to end after {how}", poll_s=1.0)
    print(f"{how}: server job {server} ended ({_state(server)}) "
          f"{time.monotonic() - t0:.0f} s later")  # fmt: skip
    # the stopping controller started no other server job
    assert [e["job_id"] for e in d.server_events("submit")] == [server]


def test_a_requeued_controller_reattaches_to_the_same_server(tmp_path) -> None:
    n = 6
    d = launch(tmp_path, "requeue", cluster="slurm", candidates=n, train_s=4.0)
    server = _server_job(d)
    wait_for(lambda: len(d.training_starts()) >= 2, 180, "two trainings")
    SlurmClient().run(["scontrol", "requeue", d.controller_job])
    wait_for(lambda: d.server_events("attach"), 300, "the requeued controller to re-attach")
    wait_for(lambda: d.stopped() == "done", 420, "the run to finish")
    [sub] = d.server_events("submit")
    assert sub["job_id"] == server
    assert [e["job_id"] for e in d.server_events("attach")] == [server]
    assert len({e["pid"] for e in d.events() if e["ev"] == "start"}) == 2  # two controllers
    assert server_jobs_in_sacct(d) == [server]  # one server job in sacct for the run
    assert len({r["pid"] for r in d.requests()}) == 1
    check_no_lost_or_duplicated(d, n)


def test_archlab_cancel_stops_the_server_job(tmp_path) -> None:
    import subprocess
    import sys

    from tests.support.serve_drill import REPO

    d = launch(tmp_path, "cancel", cluster="slurm", candidates=40, train_s=5.0)
    server = _server_job(d)
    out = subprocess.run([sys.executable, "-m", "launcher", "cancel", str(d.run_dir)],
                         cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    wait_for(lambda: not _live(server), 60, "the server job to end after archlab cancel")
    time.sleep(5)  # a controller that would start another server has done so by now
    assert [e["job_id"] for e in d.server_events("submit")] == [server]
