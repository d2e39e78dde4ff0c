"""Pure parts of slurm/: sbatch text (golden), time parsing, sacct parsing, backoff, retries."""

from __future__ import annotations

import os
import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from slurm import Call, OutcomeState, SiteParams, make_executor
from slurm.backend import Backoff, RetryPolicy, outcome_for_state
from slurm.cluster import SlurmClient, expand_job_ids, parse_states, slurm_env
from slurm.executor import Outcome
from slurm.sbatch import render_controller_script, render_sbatch, render_task_script
from slurm.site import parse_slurm_time

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).resolve().parents[1] / "golden"

SITE = SiteParams(
    partition="gpu",
    account="proj-123",
    qos="normal",
    time="04:00:00",
    cpus_per_task=8,
    mem="32G",
    gres="gpu:a100:1",
    extra_sbatch=("--constraint=a100", "#SBATCH --exclude=node07"),
    setup=("module load cuda/12.1", "source /shared/venvs/archlab/bin/activate"),
    signal_delay_s=120,
    array_throttle=16,
    controller_time="2-00:00:00",
)


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("ARCHLAB_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; ARCHLAB_UPDATE_GOLDEN=1 to accept"


def test_controller_script_matches_golden() -> None:
    text = render_controller_script(
        SITE,
        "archlab controller /shared/runs/nader-c10-20261122-ab12cd",
        run_dir="/shared/runs/nader-c10-20261122-ab12cd",
        job_name="archlab-nader-c10",
    )
    _golden("controller.sbatch", text)


def test_task_script_matches_golden() -> None:
    text = render_task_script(
        SITE,
        "/shared/venvs/archlab/bin/python -u -m slurm.worker /shared/runs/x/jobs/slurm-1",
        folder="/shared/runs/x/jobs/slurm-1",
        array_size=500,
    )
    _golden("task_array.sbatch", text)


def test_render_is_pure_and_readable() -> None:
    kw = dict(command="echo hi", job_name="j", output="logs/%A_%a.out", time="10")
    assert render_sbatch(**kw) == render_sbatch(**kw)  # type: ignore[arg-type]
    text = render_sbatch(**kw, signal="B:USR2@90")  # type: ignore[arg-type]
    assert text.startswith("#!/bin/bash\n")
    assert "#SBATCH --time=10" in text and "#SBATCH --signal=B:USR2@90" in text
    assert "#SBATCH --requeue" in text and "#SBATCH --open-mode=append" in text
    assert text.rstrip().endswith("exec echo hi")


def test_render_rejects_missing_time_and_command() -> None:
    with pytest.raises(ValueError, match="time limit is empty"):
        render_sbatch(command="x", job_name="j", output="o", time="")
    with pytest.raises(ValueError, match="empty command"):
        render_sbatch(command=" ", job_name="j", output="o", time="5")


def test_values_with_spaces_are_quoted() -> None:
    text = render_sbatch(command="x", job_name="my job", output="o", time="5")
    assert "#SBATCH --job-name='my job'" in text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 1800),
        ("1:30", 90),
        ("01:00:00", 3600),
        ("2-00", 172800),
        ("1-02:03", 93780),
        ("1-00:00:10", 86410),
    ],
)
def test_parse_slurm_time(text: str, seconds: int) -> None:
    assert parse_slurm_time(text) == seconds


def test_parse_slurm_time_errors_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="M:S, H:M:S"):
        parse_slurm_time("an hour")


def test_site_from_profile_duck_typed() -> None:
    profile = SimpleNamespace(
        partition="p", account="", qos="", time="00:10:00", cpus_per_task=1, mem="1G",
        gres="", gpus_per_task=0, extra_sbatch=["--x=1"], setup=["true"], signal_delay_s=60,
        array_throttle=0, controller_time="01:00:00", unrelated="ignored",
    )  # fmt: skip
    site = SiteParams.from_profile(profile)
    assert site.partition == "p" and site.extra_sbatch == ("--x=1",) and site.setup == ("true",)
    assert SiteParams.from_profile({"time": "5", "signal_delay_s": 30}).time == "5"


def test_site_validation() -> None:
    with pytest.raises(ValueError, match="signal_delay_s"):
        SiteParams(time="1", signal_delay_s=90).validate()  # submitit#1633-style trap
    with pytest.raises(ValueError, match="empty"):
        SiteParams(time="").validate()


def test_the_run_schema_uses_site_params_itself() -> None:
    """Section executor.site is SiteParams (one definition, no launcher-side mirror)."""
    schema = pytest.importorskip("launcher.config.schema")
    assert schema.ExecutorConfig().site == SiteParams()
    assert SiteParams.from_profile(SiteParams(time="5")).time == "5"


def test_expand_and_parse_states() -> None:
    assert expand_job_ids("12_[0-2,5%4]") == ["12_0", "12_1", "12_2", "12_5"]
    assert expand_job_ids("12_7") == ["12_7"] and expand_job_ids("12") == ["12"]
    text = "12_0|COMPLETED\n12_0.batch|COMPLETED\n12_1|CANCELLED by 0\n12_[2-3]|PENDING\n"
    assert parse_states(text) == {
        "12_0": "COMPLETED",
        "12_1": "CANCELLED",
        "12_2": "PENDING",
        "12_3": "PENDING",
    }
    # a requeued task appears twice: the last record wins
    assert parse_states("5_0|REQUEUED\n5_0|RUNNING\n") == {"5_0": "RUNNING"}


def test_client_batches_one_query_and_falls_back_to_squeue() -> None:
    calls: list[list[str]] = []

    def runner(argv: list[str]) -> str:
        calls.append(argv)
        if argv[0] == "scontrol":
            return "MaxArraySize            = 1001\nAccountingStorageType   = accounting_storage/slurmdbd\n"
        if argv[0] == "sacct":
            raise RuntimeError("slurmdbd down")
        return "7_0|RUNNING\n8_1|PENDING\n"

    client = SlurmClient(runner=runner)
    states = client.states(["7_0", "7_1", "8_1"])
    assert states == {"7_0": "RUNNING", "8_1": "PENDING"}
    assert [c[0] for c in calls] == ["scontrol", "sacct", "squeue"]
    assert calls[1][-1] == "7,8"  # one query for all arrays of the run


def test_slurm_env_strips_inherited_job_variables() -> None:
    env = slurm_env(
        {
            "SLURM_CONF": "/etc/slurm.conf",
            "SLURM_JOB_ID": "5",
            "SLURM_MEM_PER_NODE": "100",
            "SBATCH_PARTITION": "x",
            "SUBMITIT_EXECUTOR": "slurm",
            "PATH": "/bin",
        }
    )
    assert env == {"SLURM_CONF": "/etc/slurm.conf", "PATH": "/bin"}


def test_backoff_grows_resets_and_jitters() -> None:
    b = Backoff(10.0, rng=random.Random(0))
    first = b.next(changed=True)
    assert 9.0 <= first <= 11.0
    values = [b.next(changed=False) for _ in range(10)]
    assert max(values) <= 66.0 and values[-1] >= 54.0  # capped at 6x base (+-10 %)
    assert 9.0 <= b.next(changed=True) <= 11.0


def test_retry_policy() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.should_retry(Outcome(OutcomeState.NODE_FAIL), 0)
    assert policy.should_retry(Outcome(OutcomeState.PREEMPTED), 1)
    assert not policy.should_retry(Outcome(OutcomeState.PREEMPTED), 2)
    assert not policy.should_retry(Outcome(OutcomeState.FAILED), 0)
    assert not policy.should_retry(Outcome(OutcomeState.TIMEOUT), 0)
    assert RetryPolicy(1, retry_user_errors=True).should_retry(Outcome(OutcomeState.FAILED), 0)
    # an external cancel (someone scancel'ed the task) is retried like a preemption; a
    # cancel the caller asked for never is
    cancelled = Outcome(OutcomeState.CANCELLED)
    assert policy.should_retry(cancelled, 1)
    assert not policy.should_retry(cancelled, 2)
    assert not policy.should_retry(cancelled, 0, cancel_requested=True)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("TIMEOUT", OutcomeState.TIMEOUT),
        ("CANCELLED", OutcomeState.CANCELLED),
        ("NODE_FAIL", OutcomeState.NODE_FAIL),
        ("BOOT_FAIL", OutcomeState.NODE_FAIL),
        ("PREEMPTED", OutcomeState.PREEMPTED),
        ("OUT_OF_MEMORY", OutcomeState.FAILED),
        ("COMPLETED", OutcomeState.FAILED),  # completed without a result is not a success
    ],
)
def test_outcome_for_state(state: str, expected: OutcomeState) -> None:
    assert outcome_for_state(state).state is expected


def test_make_executor_kinds(tmp_path: Path) -> None:
    ex = make_executor("inprocess", tmp_path)
    [h] = ex.submit([Call(divmod, (7, 2))])
    assert h.outcome is not None and h.outcome.value == (3, 1)
    with pytest.raises(ValueError, match="valid kinds are inprocess, local, slurm"):
        make_executor("k8s", tmp_path)


def test_slurm_package_never_imports_nas_or_launcher() -> None:
    root = Path(__file__).resolve().parents[2] / "slurm"
    for path in root.glob("*.py"):
        text = path.read_text()
        assert "import nas" not in text and "from nas" not in text, path
        assert "import launcher" not in text and "from launcher" not in text, path


def test_controller_script_from_profile() -> None:
    from slurm.sbatch import controller_script_from_profile

    profile = SimpleNamespace(partition="cpu", time="00:30:00", controller_time="12:00:00")
    text = controller_script_from_profile(profile, "/runs/demo-1")
    assert "#SBATCH --job-name=archlab-demo-1" in text
    assert "#SBATCH --time=12:00:00" in text
    assert "#SBATCH --output=/runs/demo-1/logs/%A_%a.out" in text
    assert text.rstrip().endswith("exec archlab controller /runs/demo-1")


def _fake_slurm(tmp_path: Path, sacct_line: str):  # type: ignore[no-untyped-def]
    from slurm.slurm_executor import SlurmExecutor

    def runner(argv: list[str]) -> str:
        if argv[0] == "scontrol":
            return "MaxArraySize = 1001\nAccountingStorageType = accounting_storage/slurmdbd\n"
        return sacct_line

    return SlurmExecutor(
        tmp_path / "jobs", site=SiteParams(time="5"), client=SlurmClient(runner=runner),
        poll_interval_s=0.01, result_grace_s=0.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("line", "expect"),
    [
        ("7_0|RUNNING|{submit}|archlab-r1", None),  # ours, alive: followed
        ("7_0|RUNNING|{submit}|someone-else", "LOST"),  # id reused by another job
        ("7_0|RUNNING|2001-01-01T00:00:00|archlab-r1", "LOST"),  # submitted before ours
        ("7_0|CANCELLED by 0|{submit}|archlab-r1", "LOST"),  # gone without a result
        ("7_0|COMPLETED|{submit}|archlab-r1", "LOST"),  # ended, no result pickle
        ("7_0|TIMEOUT|{submit}|archlab-r1", "TIMEOUT"),  # would time out again: kept
        ("", "LOST"),  # unknown to the cluster, submitted long ago
    ],
)
def test_attach_judges_the_cluster_answer(tmp_path: Path, line: str, expect: str | None) -> None:
    import time

    at = time.time() - 3600
    submit = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(at + 5))
    ex = _fake_slurm(tmp_path, line.format(submit=submit))
    old = tmp_path / "old"
    old.mkdir()
    ref = {"dir": str(old), "pos": 1, "n": 2, "at": at, "name": "archlab-r1"}
    h = ex.attach("k", "7_0", ref)
    assert h.outcome is None  # no result file: the cluster decides at the next poll
    list(ex.as_completed([h], timeout_s=0.3))
    got = None if h.outcome is None else h.outcome.state.value
    assert got == expect, h.outcome
    if expect is not None:  # decided by the first query (and one scontrol show config)
        assert ex.client.queries == 2


def test_attach_reads_the_pack_position_from_an_existing_result(tmp_path: Path) -> None:
    from submitit.core.utils import cloudpickle_dump

    ex = _fake_slurm(tmp_path, "")
    old = tmp_path / "old"
    old.mkdir()
    records = [{"state": "DONE", "value": v, "attempt": 1} for v in ("a", "b", "c")]
    cloudpickle_dump(("success", records), old / "9_4_0_result.pkl")
    ref = {"dir": str(old), "n": 3, "at": 0.0}
    hs = [ex.attach(k, "9_4", {**ref, "pos": p}) for k, p in (("x", 2), ("y", 0))]
    assert [h.outcome.value for h in hs if h.outcome] == ["c", "a"]
    assert ex.client.queries == 0 and ex.stats()["attached"] == 2
    bad = ex.attach("z", "9_4", {**ref, "pos": 2})  # position taken
    assert bad.outcome is not None and bad.outcome.state is OutcomeState.LOST
    nothing = make_executor("inprocess", tmp_path).attach("k", "inprocess-1")  # type: ignore[attr-defined]
    assert nothing.outcome.state is OutcomeState.LOST
