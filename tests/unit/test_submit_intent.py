"""The submit window without a cluster: the intent journal event, and how the Slurm executor
finds an unjournaled submission from ``sacct``/``squeue`` answers and its folder's pickles."""

from __future__ import annotations

import pytest

from nas.controller.state import RunState
from nas.controller.submit_intent import (
    INTENT_EVENT,
    LEGACY_INTENT_FILE,
    Intent,
    legacy_intent,
    plan_intent,
    recover_submission,
)
from slurm.cluster import SlurmClient
from slurm.executor import InProcessExecutor
from slurm.site import SiteParams
from slurm.slurm_executor import SlurmExecutor

pytestmark = pytest.mark.unit


class FakeSlurm:
    """Answers sbatch/sacct/squeue/scancel/scontrol like a cluster that ran ``sbatch`` once."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}  # array id -> job name
        self.cancelled: list[str] = []
        self.next_id = 41

    def __call__(self, argv: list[str]) -> str:
        if argv[0] == "scontrol":
            return "MaxArraySize=1001\nAccountingStorageType=accounting_storage/slurmdbd\n"
        if argv[0] == "sbatch":
            self.next_id += 1
            text = open(argv[-1]).read()
            name = next(x.split("=", 1)[1] for x in text.splitlines() if "--job-name=" in x)
            size = int(next(x.split("0-", 1)[1] for x in text.splitlines() if "--array=" in x))
            self.names[str(self.next_id)] = f"{name}|{size + 1}"
            return f"{self.next_id}\n"
        if argv[0] in ("sacct", "squeue"):
            want = next(a.split("=", 1)[1] for a in argv if a.startswith("--name="))
            lines = []
            for aid, v in self.names.items():
                name, n = v.split("|")
                if name == want:
                    lines += [
                        f"{aid}_{i}|RUNNING|2026-12-02T01:00:00|{name}" for i in range(int(n))
                    ]
            return "\n".join(lines)
        if argv[0] == "scancel":
            self.cancelled += argv[1:]
            return ""
        raise AssertionError(argv)


def _state(ids):
    st = RunState()
    st.apply({"seq": 0, "t": 1.0, "ev": "ask", "n": len(ids), "ids": ids,
              "cands": {c: {"candidate_id": c} for c in ids}})  # fmt: skip
    return st


def _journal_intent(st: RunState, executor, ids) -> Intent:
    """What the dispatcher does before ``executor.submit``: plan, journal the intent."""
    intent = plan_intent(executor, ids)
    assert intent is not None
    st.apply({"seq": st.seq + 1, "t": 2.0, "ev": INTENT_EVENT, **intent.fields()})
    return intent


def _executor(tmp_path, fake, pack=1):
    return SlurmExecutor(tmp_path / "jobs", site=SiteParams(time="10"), pack=pack,
                         job_name="archlab-r1", client=SlurmClient(runner=fake))  # fmt: skip


def test_intent_round_trip_and_executors_that_cannot_plan(tmp_path):
    assert plan_intent(InProcessExecutor(), ["a"]) is None
    ex = _executor(tmp_path, FakeSlurm())
    st = _state(["a", "b"])
    intent = _journal_intent(st, ex, ["a", "b"])
    assert Intent.from_fields(st.intent) == intent  # the fold keeps it ...
    assert intent.plan["name"].startswith("archlab-r1-") and intent.plan["dir"] == str(ex.folder)
    st.apply({"seq": st.seq + 1, "t": 3.0, "ev": "submit", "ids": ["a", "b"], "jobs": ["1", "2"]})
    assert st.intent is None  # ... until the submit is journaled
    st2 = RunState.from_json(st.to_json())  # a snapshot keeps it as well
    assert st2.intent is None


def test_an_intent_file_of_an_older_run_is_read_once(tmp_path):
    (tmp_path / LEGACY_INTENT_FILE).write_text(
        '{"ids": ["a"], "plan": {"kind": "slurm"}, "t": 5.0}'
    )
    assert legacy_intent(tmp_path) == Intent(["a"], {"kind": "slurm"}, 5.0)
    (tmp_path / LEGACY_INTENT_FILE).write_text('{"ids": ["a"], "pl')  # torn: nothing
    assert legacy_intent(tmp_path) is None


def test_crash_after_sbatch_is_recovered_and_the_submit_uses_the_planned_name(tmp_path):
    from slurm.executor import Call
    from tests.support import cluster_calls as T

    fake = FakeSlurm()
    ex = _executor(tmp_path, fake, pack=2)
    ids = ["a", "b", "c"]
    st = _state(ids)
    intent = _journal_intent(st, ex, ids)
    handles = ex.submit([Call(T.add, (i, 1), key=k) for i, k in enumerate(ids)])
    # the crash: the journal never got the submit line; a new executor after the restart
    found = recover_submission(st, _executor(tmp_path, fake, pack=2))
    assert found.ids == ids
    assert found.jobs == [h.job_id for h in handles] == ["42_0", "42_0", "42_1"]
    assert [r["pos"] for r in found.refs] == [0, 1, 0] and found.refs[0]["n"] == 2
    assert found.refs[0]["name"] == intent.plan["name"] == fake.names["42"][:-2]
    assert fake.cancelled == []


def test_tasks_whose_pickle_is_missing_get_it_or_are_cancelled(tmp_path):
    from slurm.executor import Call
    from tests.support import cluster_calls as T

    fake = FakeSlurm()
    ex = _executor(tmp_path, fake)
    ids = ["a", "b"]
    st = _state(ids)
    intent = _journal_intent(st, ex, ids)
    ex.submit([Call(T.add, (i, 1), key=k) for i, k in enumerate(ids)])
    # as if the crash came between sbatch and the renames: task 0's pickle is staged again,
    # task 1's is gone altogether
    tag = intent.plan["tag"]
    (ex.folder / "42_0_submitted.pkl").rename(ex.folder / f"staged-{tag}-0.pkl")
    (ex.folder / "42_1_submitted.pkl").unlink()
    found = recover_submission(st, _executor(tmp_path, fake))
    assert found.ids == ["a"] and (ex.folder / "42_0_submitted.pkl").exists()
    assert fake.cancelled == ["42_1"]  # the orphan would wait 60 s and fail


def test_nothing_submitted_or_already_journaled_is_nothing_to_recover(tmp_path):
    fake = FakeSlurm()
    ids = ["a"]
    st = _state(ids)
    _journal_intent(st, _executor(tmp_path, fake), ids)  # crash before sbatch
    assert recover_submission(st, _executor(tmp_path, fake)).ids == []
    st.apply({"seq": st.seq + 1, "t": 3.0, "ev": "submit", "ids": ids, "jobs": ["9_0"]})
    assert recover_submission(st, _executor(tmp_path, fake)).ids == []
