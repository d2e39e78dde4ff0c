"""Helpers of the ``llm.serve`` drills (tests/integration/test_llm_serve*.py): launch a
NADER run whose LLM is the scripted test server started as a job of the run
(``llm.serve.kind=command``), and read back what the servers received, what the run
recorded and how often each candidate started training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.controller import read_events
from store.result_store import LocalResultStore
from tests.support.counting_evaluator import read_events_log

REPO = Path(__file__).resolve().parents[2]

# the scripted server as llm.serve.command; {log} is filled in per run
SCRIPTED = ("{{python}} -m tests.support.serve_scripted --host {{host}} --port {{port}} "
            "--log {log} --delay-s {delay}")  # fmt: skip


@dataclass(frozen=True)
class Drill:
    run_dir: Path
    work: Path  # the counting evaluator's log folder
    requests_log: Path  # one line per chat request any server of the run received
    controller_job: str  # Slurm job id of the controller ("" for a local one)

    def events(self) -> list[dict[str, Any]]:
        return read_events(self.run_dir / "journal.jsonl")

    def server_events(self, action: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["ev"] == "llm_server" and e["action"] == action]

    def stopped(self) -> str:
        stops = [e["reason"] for e in self.events() if e["ev"] == "stop"]
        return stops[-1] if stops else ""

    def served(self) -> int:
        """Chat requests the run's server jobs received, from their logs (the access-log
        line ``"POST /v1/chat/completions`` that llama-cpp-python's uvicorn and
        ``serve_scripted`` print per request)."""
        logs = (self.run_dir / "llm_server" / "jobs").glob("*/*.out")
        return sum(p.read_text(errors="replace").count('"POST /v1/chat/completions') for p in logs)

    def requests(self) -> list[dict[str, Any]]:
        if not self.requests_log.is_file():
            return []
        return [json.loads(x) for x in self.requests_log.read_text().splitlines() if x.strip()]

    def training_starts(self) -> Counter[str]:
        return Counter(cid for kind, cid in read_events_log(self.work) if kind == "start")

    def table(self, name: str) -> list[dict[str, Any]]:
        return LocalResultStore(self.run_dir / "tables").read(name, self.run_dir.name).to_pylist()


def launch(tmp_path: Path, name: str, *, cluster: str, candidates: int, train_s: float,
           delay_s: float = 0.0, extra: tuple[str, ...] = (),
           serve: tuple[str, ...] | None = None) -> Drill:  # fmt: skip
    """``archlab launch`` of a NADER run on the demo data set whose trainings are counted
    sleeps (``ARCHLAB_TEST_EVALUATOR``) and whose LLM is the scripted server as a job
    (``serve``: other ``llm.*`` settings instead, e.g. ``llm.serve.kind=llama_cpp``)."""
    work = tmp_path / f"work-{name}"
    work.mkdir()
    log = tmp_path / f"requests-{name}.jsonl"
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(
        f"experiment:\n  name: {name}\n  run_root: {tmp_path / 'runs'}\n"
        "space:\n  kind: block\n  base_block: resnet_basic\n  macro: nb201\n"
        "strategy:\n  name: nader\ntrain:\n  evaluator: train\n  dataset: demo\n"
    )
    overrides = [
        f"budget.candidates={candidates}",
        "executor.max_in_flight=2",
        "executor.poll_interval_s=1",
        "executor.site.time=00:10:00",
        "executor.site.cpus_per_task=1",
        "executor.site.mem=300M",
        "executor.site.signal_delay_s=30",
        "executor.site.controller_time=00:15:00",
        *(
            serve
            if serve is not None
            else (
                "llm.model=scripted",
                "llm.max_retries=0",
                "llm.serve.kind=command",
                f"llm.serve.command={SCRIPTED.format(log=log, delay=delay_s)}",
            )
        ),
        "llm.serve.site.mem=300M",
        "llm.serve.site.time=00:15:00",
        "llm.serve.watch_interval_s=2",
        "llm.serve.heartbeat_stale_s=10",
        "llm.serve.ready_timeout_s=120",
        *extra,
    ]
    env = {**os.environ, "ARCHLAB_TEST_EVALUATOR": f"{work}:{train_s}", "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-m", "launcher", "launch", str(cfg), *overrides, "--cluster", cluster],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    (run_dir,) = [d for d in (tmp_path / "runs").iterdir() if d.name.startswith(name)]
    info = json.loads((run_dir / "controller.json").read_text())
    return Drill(run_dir, work, log, str(info.get("job_id") or ""))


def wait_for(pred: Callable[[], object], timeout_s: float, what: str, poll_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:g} s waiting for {what}"
        time.sleep(poll_s)


def check_no_lost_or_duplicated(d: Drill, candidates: int, *, in_flight_killed: int = 0) -> None:
    """Every candidate of the budget recorded once and trained once; every answered request
    of the servers is one ``ok`` row of ``llm_calls`` (a request the server received and
    died on before answering is at most ``in_flight_killed`` more)."""
    trials = d.table("trials")
    ids = [r["candidate_id"] for r in trials]
    assert len(ids) == len(set(ids)), "a candidate recorded twice"
    starts = d.training_starts()
    assert all(n == 1 for n in starts.values()), f"a candidate trained twice: {starts}"
    assert len(starts) == candidates, f"{len(starts)} trainings for {candidates} candidates"
    assert set(starts) <= set(ids), "a trained candidate has no record"
    calls = d.table("llm_calls")
    ok = [r for r in calls if r["status"] == "ok"]
    assert len({r["call_id"] for r in ok}) == len(ok), "an LLM call answered twice"
    if d.requests_log.is_file():  # the scripted server's count (a stand-in keeps none)
        received = len(d.requests())
        assert len(ok) <= received <= len(ok) + in_flight_killed, (len(ok), received)


def server_jobs_in_sacct(d: Drill) -> list[str]:
    """Every Slurm job (``sacct``, since the run was created) named as the run's server
    jobs are: ``archlab-llm-<run id>-<tag>``."""
    from slurm.cluster import SlurmClient

    prefix = f"archlab-llm-{d.run_dir.name}"[:60] + "-"
    created = json.loads((d.run_dir / "manifest.json").read_text())["created"]
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(float(created) - 60))
    out = SlurmClient().run(["sacct", "-X", "-n", "-P", "-S", start, "-o", "JobID,JobName"])
    return sorted({line.split("|")[0] for line in out.splitlines()
                   if line.count("|") == 1 and line.split("|")[1].startswith(prefix)})  # fmt: skip
