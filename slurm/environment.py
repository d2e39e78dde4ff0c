"""The environment a Slurm job is submitted with: an allow-list, so secrets stay home.

``sbatch`` copies the submitting process's whole environment into the job (``--export=ALL``,
Slurm's default), and slurmctld keeps it in its state directory
(``hash.N/job.M/environment``) for as long as the job is known — readable by the cluster's
administrators and in its backups. An array task that trains a network needs none of
``OPENAI_API_KEY``, ``AWS_SECRET_ACCESS_KEY``, ``HF_TOKEN`` ...; so :func:`job_env` builds
the submission environment from an allow-list instead (see docs/slurm.md, "What a job's
environment holds"):

* names in :data:`WORKER_NAMES` (``PATH``, ``PYTHONPATH``, ``HOME``, ``VIRTUAL_ENV``,
  ``LD_LIBRARY_PATH``, ...) and names starting with a prefix in :data:`WORKER_PREFIXES`
  (``LC_``, ``ARCHLAB_``, ``CONDA_``, ``CUDA_``, ``NCCL_``, ``OMP_``, ...), unless the
  name looks like a secret (:func:`looks_secret`: ``*KEY*``, ``*SECRET*``, ``*TOKEN*``,
  ``*PASSWORD*``, ``*CREDENTIAL*``);
* ``SLURM_CONF`` (nested submissions); Slurm adds the job's own ``SLURM_*`` variables;
* ``AWS_*`` only with ``aws=True`` (the job itself reads or writes ``s3://``);
* the names in ``extra`` (``executor.site.env_passthrough``: exact names, or prefixes
  ending in ``*``), secret-looking or not: the user asked for them.

``CUDA_VISIBLE_DEVICES`` is never passed: Slurm sets it for the GPUs the job gets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

__all__ = ["WORKER_NAMES", "WORKER_PREFIXES", "job_env", "looks_secret"]

WORKER_NAMES = frozenset(
    {
        "PATH",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONUNBUFFERED",
        "PYTHONHASHSEED",
        "PYTHONDONTWRITEBYTECODE",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TERM",
        "VIRTUAL_ENV",
        "LD_LIBRARY_PATH",
        "LIBRARY_PATH",
        "CPATH",
        "MODULEPATH",
        "MODULESHOME",
        "LOADEDMODULES",
        "_LMFILES_",
        "SLURM_CONF",
        "SUBMITIT_PREEMPT_SIGNAL",
        "HF_HOME",
        "TORCH_HOME",
    }
)
WORKER_PREFIXES = (
    "LC_",
    "ARCHLAB_",
    "CONDA_",
    "CUDA_",
    "NCCL_",
    "OMP_",
    "MKL_",
    "OPENBLAS_",
    "TORCH",
    "XDG_",
)
_NEVER = frozenset({"CUDA_VISIBLE_DEVICES"})
_SECRET = re.compile(r"KEY|SECRET|TOKEN|PASSW|CREDENTIAL|PRIVATE|SESSION", re.IGNORECASE)


def looks_secret(name: str) -> bool:
    """Whether a variable's *name* says it holds a credential."""
    return bool(_SECRET.search(name))


def _wanted(name: str, patterns: Iterable[str]) -> bool:
    for p in patterns:
        if p.endswith("*") and name.startswith(p[:-1]):
            return True
        if name == p:
            return True
    return False


def job_env(
    base: Mapping[str, str] | None = None,
    *,
    aws: bool = False,
    extra: Iterable[str] = (),
) -> dict[str, str]:
    """The environment to run ``sbatch`` with (the job inherits exactly this)."""
    env = dict(os.environ if base is None else base)
    extra = tuple(extra)
    out: dict[str, str] = {}
    for name, value in env.items():
        if name in _NEVER:
            continue
        if _wanted(name, extra) or (aws and name.startswith("AWS_")):
            out[name] = value
            continue
        if looks_secret(name):
            continue
        if name in WORKER_NAMES or name.startswith(WORKER_PREFIXES):
            out[name] = value
    return out
