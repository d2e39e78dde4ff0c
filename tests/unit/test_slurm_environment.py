"""Jobs are submitted with an allow-listed environment: no secrets they do not use."""

from __future__ import annotations

import pytest

from slurm.cluster import SlurmClient
from slurm.environment import job_env, looks_secret

pytestmark = pytest.mark.unit

BASE = {
    "PATH": "/venv/bin:/usr/bin",
    "PYTHONPATH": "/repo",
    "HOME": "/home/u",
    "VIRTUAL_ENV": "/venv",
    "LC_ALL": "C.UTF-8",
    "SLURM_CONF": "/etc/slurm.conf",
    "SLURM_JOB_ID": "12",
    "ARCHLAB_TEST_EVALUATOR": "/w:1",
    "ARCHLAB_S3_SECRET_KEY": "dev-secret",
    "OPENAI_API_KEY": "sk-SECRET",
    "HF_TOKEN": "hf_x",
    "AWS_ACCESS_KEY_ID": "AKIA",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "CUDA_VISIBLE_DEVICES": "0,1",
    "NCCL_DEBUG": "INFO",
    "RANDOM_TOOL_SETTING": "x",
}


def test_worker_gets_the_allow_list_and_no_secret():
    env = job_env(BASE)
    assert {"PATH", "PYTHONPATH", "HOME", "VIRTUAL_ENV", "LC_ALL", "SLURM_CONF",
            "ARCHLAB_TEST_EVALUATOR", "NCCL_DEBUG"} <= set(env)  # fmt: skip
    for gone in ("OPENAI_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
                 "ARCHLAB_S3_SECRET_KEY", "CUDA_VISIBLE_DEVICES", "RANDOM_TOOL_SETTING"):  # fmt: skip
        assert gone not in env, gone
    assert "sk-SECRET" not in repr(env) and "aws-secret" not in repr(env)


def test_aws_only_when_the_job_uses_s3_and_passthrough_wins():
    env = job_env(BASE, aws=True, extra=["OPENAI_API_KEY", "RANDOM_*"])
    assert env["AWS_SECRET_ACCESS_KEY"] == "aws-secret" and env["AWS_DEFAULT_REGION"]
    assert env["OPENAI_API_KEY"] == "sk-SECRET" and env["RANDOM_TOOL_SETTING"] == "x"
    assert "HF_TOKEN" not in env and "CUDA_VISIBLE_DEVICES" not in env


def test_secret_names():
    assert all(map(looks_secret, ["OPENAI_API_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "X_SECRET"]))
    assert not any(map(looks_secret, ["PATH", "HOME", "ARCHLAB_TEST_EVALUATOR", "LANG"]))


def test_sbatch_runs_with_the_given_environment_minus_inherited_slurm_variables(monkeypatch):
    seen: dict[str, dict[str, str]] = {}

    def fake_run(argv, **kw):
        import subprocess

        seen["env"] = kw["env"]
        return subprocess.CompletedProcess(argv, 0, stdout="77\n", stderr="")

    monkeypatch.setattr("subprocess.run", fake_run)
    assert SlurmClient().sbatch("x.sh", env=job_env(BASE)) == "77"
    assert "SLURM_JOB_ID" not in seen["env"] and seen["env"]["SLURM_CONF"] == "/etc/slurm.conf"
    assert "OPENAI_API_KEY" not in seen["env"]
