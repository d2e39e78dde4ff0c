"""Site profile: how tasks are placed on a cluster (partition, account, time, resources).

:class:`SiteParams` is section ``executor.site`` of a run's config (declared here, once;
the launcher's schema composes it). :meth:`SiteParams.from_profile` reads one from a plain
mapping (a hand-written profile).

>>> site = SiteParams(partition="gpu", time="02:00:00", gres="gpu:a100:1")
>>> site.time_limit_s()
7200
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["SiteParams", "parse_slurm_time"]

_TIME_FORMS = (
    # Slurm --time forms: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S
    re.compile(r"^(?P<m>\d+)$"),
    re.compile(r"^(?P<m>\d+):(?P<s>\d+)$"),
    re.compile(r"^(?P<h>\d+):(?P<m>\d+):(?P<s>\d+)$"),
    re.compile(r"^(?P<d>\d+)-(?P<h>\d+)$"),
    re.compile(r"^(?P<d>\d+)-(?P<h>\d+):(?P<m>\d+)$"),
    re.compile(r"^(?P<d>\d+)-(?P<h>\d+):(?P<m>\d+):(?P<s>\d+)$"),
)


def parse_slurm_time(value: str) -> int:
    """Seconds in a Slurm ``--time`` value (``"90"`` = 90 minutes, ``"1-12:00:00"``, ...).

    Raises ``ValueError`` naming the accepted forms; an empty value is an error because a
    missing time limit silently becomes the cluster's (often 5-minute) default.
    """
    text = str(value).strip()
    if not text:
        raise ValueError(
            "site time limit is empty: set executor.site.time (e.g. '01:00:00'); "
            "without it the cluster default applies (often a few minutes)"
        )
    for form in _TIME_FORMS:
        match = form.match(text)
        if match:
            parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
            return (
                parts.get("d", 0) * 86400
                + parts.get("h", 0) * 3600
                + parts.get("m", 0) * 60
                + parts.get("s", 0)
            )
    raise ValueError(
        f"cannot read Slurm time {value!r}: use M, M:S, H:M:S, D-H, D-H:M or D-H:M:S "
        "(e.g. '30', '01:00:00', '1-12:00:00')"
    )


@dataclass(frozen=True)
class SiteParams:
    """Section ``executor.site``: where and how array tasks run. Strings go into ``#SBATCH``
    lines verbatim."""

    partition: str = ""  # -p; "" = the cluster's default partition
    account: str = ""  # -A
    qos: str = ""  # --qos
    time: str = "01:00:00"  # wall limit per task (required; Slurm --time syntax)
    cpus_per_task: int = 2  # --cpus-per-task
    mem: str = "4G"  # --mem (per node = per task here); "" = the cluster's DefMemPerCPU
    gres: str = ""  # --gres, verbatim (e.g. "gpu:a100:1")
    gpus_per_task: int = 0  # --gpus-per-task (0 = none)
    extra_sbatch: tuple[str, ...] = ()  # extra "#SBATCH ..." lines, verbatim
    setup: tuple[str, ...] = ()  # shell lines run before the task (module load, venv activation)
    signal_delay_s: int = 120  # USR2 this many seconds before the limit (checkpoint + requeue)
    array_throttle: int = 0  # "%N" on --array: at most N tasks of an array at once (0 = none)
    controller_time: str = "24:00:00"  # wall limit of the controller job (it requeues itself)
    env_passthrough: tuple[str, ...] = ()  # extra variables jobs get (names, or prefixes + "*")

    @classmethod
    def from_profile(cls, profile: Any) -> SiteParams:
        """Copy the fields this class knows from any object or mapping that has them."""
        if isinstance(profile, SiteParams):
            return profile
        values: dict[str, Any] = {}
        for f in fields(cls):
            if isinstance(profile, dict):
                present, value = f.name in profile, profile.get(f.name)
            else:
                present, value = hasattr(profile, f.name), getattr(profile, f.name, None)
            if not present or value is None:
                continue
            if f.name in ("extra_sbatch", "setup", "env_passthrough"):
                value = tuple(str(line) for line in value)
            values[f.name] = value
        site = cls(**values)
        site.validate()
        return site

    def validate(self, where: str = "executor.site.") -> None:
        """Raise ``ValueError`` with what to change when the profile cannot work; ``where``
        is the section's dotted prefix (``llm.serve.site.`` for the LLM server job's)."""
        for key, value in (("time", self.time), ("controller_time", self.controller_time)):
            try:
                parse_slurm_time(value)
            except ValueError as e:
                reason = str(e).strip().splitlines()[0]
                raise ValueError(f"'{where}{key}' is {value!r}: not a Slurm time "
                                 f"({reason}); e.g. {where}{key}=01:00:00") from None  # fmt: skip
        limit = self.time_limit_s()
        if self.signal_delay_s < 0:
            raise ValueError(f"{where}signal_delay_s must be >= 0")
        if self.signal_delay_s >= limit:
            raise ValueError(
                f"{where}signal_delay_s={self.signal_delay_s} is not below the time limit "
                f"({self.time} = {limit} s): the checkpoint signal would arrive at once. "
                "Lower signal_delay_s or raise time."
            )
        if self.cpus_per_task < 1:
            raise ValueError(f"{where}cpus_per_task must be >= 1")
        if self.gpus_per_task < 0:
            raise ValueError(f"{where}gpus_per_task must be >= 0 (0 = none)")
        if self.array_throttle < 0:
            raise ValueError(f"{where}array_throttle must be >= 0 (0 = no throttle)")

    def time_limit_s(self) -> int:
        """The per-task wall limit in seconds."""
        return parse_slurm_time(self.time)
