"""``llm.serve`` with ``executor.kind=local`` (no cluster needed): the scripted test server
runs as a local job of the run, every LLM call goes to it, it is cancelled when the run is
done; killed mid-run, a new one takes over and no candidate is lost or trained twice. The
same drills on real Slurm: tests/integration/test_llm_serve_slurm.py."""

from __future__ import annotations

import os
import signal

import pytest

from tests.support.serve_drill import check_no_lost_or_duplicated, launch, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_local_run_uses_its_own_server_and_stops_it(tmp_path) -> None:
    d = launch(tmp_path, "local", cluster="local", candidates=3, train_s=0.5,
               extra=("llm.serve.bind=loopback",))  # fmt: skip
    wait_for(lambda: d.stopped(), 240, "the run to stop")
    assert d.stopped() == "done"
    [sub] = d.server_events("submit")
    [ready] = d.server_events("ready")
    assert ready["base_url"].startswith("http://127.0.0.1:")
    assert [e["job_id"] for e in d.server_events("cancel")] == [sub["job_id"]]
    check_no_lost_or_duplicated(d, 3)
    [server_pid] = {r["pid"] for r in d.requests()}
    wait_for(lambda: not _pid_alive(server_pid), 30, "the server process to end")


def test_a_killed_local_server_is_replaced_and_the_search_goes_on(tmp_path) -> None:
    d = launch(tmp_path, "localkill", cluster="local", candidates=5, train_s=2.0,
               delay_s=0.2, extra=("llm.serve.bind=loopback",))  # fmt: skip
    wait_for(lambda: d.server_events("ready") and len(d.training_starts()) >= 1, 120,
             "the server and a first training")  # fmt: skip
    first = {r["pid"] for r in d.requests()}
    assert len(first) == 1
    os.kill(first.pop(), signal.SIGKILL)  # the server process dies; its job reports it
    wait_for(lambda: d.stopped(), 240, "the run to stop")
    assert d.stopped() == "done"
    assert len(d.server_events("submit")) == 2 and len(d.server_events("end")) == 1
    check_no_lost_or_duplicated(d, 5, in_flight_killed=1)
