"""How a recipe runs: device, precision, memory format, compilation, threads, engine.

None of these fields enters a candidate's id: they change speed, not the science (bf16
autocast changes numerics slightly; it is the NB201-on-GPU norm and recorded in the trial's
``extra_metrics`` as ``bf16=1``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from nas.config_checks import at_least, fail, one_of

__all__ = ["ENGINES", "Runtime", "cpu_count"]

ENGINES = ("torch", "deepspeed")


def cpu_count() -> int:
    """CPUs this process may use (Slurm's cpus-per-task through the affinity mask)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Runtime:
    """Speed knobs of the trainer (plain data; picklable).

    >>> Runtime(device="cpu").resolve_device().type
    'cpu'
    """

    device: str = "auto"  # auto (cuda when available) | cpu | cuda | cuda:N
    amp: str = "auto"  # auto (bf16 autocast on CUDA, off on CPU) | bf16 | off
    channels_last: str = "auto"  # auto (= on: NHWC is faster on CUDA and oneDNN CPU) | on | off
    compile: bool = False  # torch.compile the model (CUDA: worth it beyond ~20 epochs)
    threads: int = 0  # CPU threads for torch; 0 = every CPU of the task (affinity mask)
    gpu_data: bool = True  # CUDA: hold the whole data set in GPU memory (uint8)
    eval_batch_size: int = 1024  # images per forward pass when validating/testing
    engine: str = "torch"  # torch | deepspeed (one candidate across the GPUs of its job)
    zero_stage: int = 0  # deepspeed: ZeRO stage 0 | 1 | 2
    ds_precision: str = "auto"  # deepspeed: auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32

    def validate(self, where: str = "") -> Runtime:
        """Raise :class:`~nas.config_checks.SettingError` at the first field out of range;
        ``where`` is the key prefix in messages (``"train."`` for a run's config)."""
        one_of(where, "engine", self.engine, ENGINES)
        one_of(where, "amp", self.amp, ("auto", "bf16", "off"))
        one_of(where, "channels_last", self.channels_last, ("auto", "on", "off"))
        one_of(where, "ds_precision", self.ds_precision, ("auto", "bf16", "fp32"))
        one_of(where, "zero_stage", self.zero_stage, (0, 1, 2))
        dev = self.device
        if dev not in ("auto", "cpu", "cuda") and not (
            dev.startswith("cuda:") and dev[5:].isdigit()
        ):
            fail(where + "device", dev, "choose auto, cpu, cuda or cuda:N")
        at_least(where, "threads", self.threads, 0, "0 = all cores")
        at_least(where, "eval_batch_size", self.eval_batch_size, 1)
        return self

    def resolve_device(self) -> Any:
        """The ``torch.device`` to train on."""
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dev = torch.device(self.device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"device {self.device!r} asked for but CUDA is not available here; "
                "use device='auto' or 'cpu'"
            )
        return dev

    def use_bf16(self, device_type: str) -> bool:
        return self.amp == "bf16" or (self.amp == "auto" and device_type == "cuda")

    def use_channels_last(self, device_type: str) -> bool:
        return self.channels_last != "off"  # measured: 1.5x on 2 CPU cores, NB201 C=16 N=5

    def cpu_threads(self) -> int:
        return self.threads or cpu_count()
