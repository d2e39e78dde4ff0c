"""Drills inside the submit window, on the real Slurm cluster: the controller is SIGKILLed

* ``sbatch:2``     — the second array staged, ``sbatch`` not yet run;
* ``sbatched:2``   — ``sbatch`` returned, the tasks' pickles not yet in place (the tasks
  wait for them);
* ``submitted:3``  — the third ``executor.submit`` returned, the journal has no ``submit``
  line for it;

then resumed. The resumed controller finds the earlier submission from its intent record
(``sacct``/``squeue --name``, the submitted pickles), attaches to its tasks and completes
the run: 0 candidates trained twice (training starts, and no second task found the first
one's training), no array task of the run ends FAILED.
"""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.faults.helpers import (
    cancel_jobs_named,
    controller_process,
    make_run,
    need_slurm,
    sacct,
)

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(300)]


@pytest.mark.parametrize("fault", ["sbatch:2", "sbatched:2", "submitted:3"])
def test_crash_in_the_submit_window_then_resume_trains_each_candidate_once(tmp_path, fault):
    need_slurm()
    # two in flight that finish together: every submit is a pair, so there are 3 submits
    n = 6
    run = make_run(tmp_path, "window", n, 5.0, "executor.max_in_flight=2")
    name = f"archlab-{run.paths.run_id}"
    try:
        first = controller_process(run, ("ARCHLAB_FAULT", fault))
        assert first.wait(timeout=180) == -signal.SIGKILL, "the fault did not fire"
        second = controller_process(run)
        assert second.wait(timeout=240) == 0
        # nothing of the run is left behind waiting (an orphan would wait 60 s, then fail)
        left = subprocess.run(["squeue", "-h", "-o", "%i|%j|%T"], capture_output=True,
                              text=True).stdout.split()  # fmt: skip
        assert not [x for x in left if f"|{name}" in x], left
    finally:
        cancel_jobs_named(name)
    assert run.stops() == ["done"] and run.controller_starts() == 2
    results = run.results()
    assert len(results) == n and set(results.values()) == {"COMPLETE"}, results
    assert not run.trained_twice(), run.counts()
    assert len(run.starts_per_candidate()) == n
    recovered = [c for e in run.events() if e["ev"] == "submit" and e.get("recovered")
                 for c in e["ids"]]  # fmt: skip
    if not fault.startswith("sbatch:"):  # sbatch ran: its tasks were found and attached
        assert recovered, "the resumed controller did not attach to the unjournaled submission"
    states = [r[1].split()[0] for r in sacct("--name", ",".join(_names(run, name)), "-S",
                                             "now-1hour", "-o", "JobID,State")]  # fmt: skip
    assert states and "FAILED" not in states, states


def _names(run, prefix: str) -> list[str]:
    """The job names of the run's arrays (one per submission)."""
    names = set()
    for d in (run.run_dir / "jobs").iterdir():
        for script in d.glob("*_submission.sh"):
            for line in script.read_text().splitlines():
                if line.startswith("#SBATCH --job-name="):
                    names.add(line.split("=", 1)[1])
    # an array submitted by a controller killed before renaming its script keeps the staged one
    for d in (run.run_dir / "jobs").iterdir():
        for script in d.glob("staged-*.sh"):
            for line in script.read_text().splitlines():
                if line.startswith("#SBATCH --job-name="):
                    names.add(line.split("=", 1)[1])
    assert all(n.startswith(prefix) for n in names)
    return sorted(names)
