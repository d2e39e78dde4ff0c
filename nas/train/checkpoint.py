"""Per-epoch training checkpoints: written atomically (tmp -> fsync -> rename), read back
to resume a preempted array task where it stopped.

A checkpoint is one ``torch.save`` dict::

    format     1
    tag        who it belongs to (candidate id + recipe hash); another tag is ignored
    epoch      epochs completed
    model      model state_dict (BN running stats included)
    optimizer  optimizer state_dict (momentum buffers)
    scheduler  {"kind": "cosine-per-step", "lr0", "epochs", "steps_per_epoch", "step"}
    rng        {"torch": CPU RNG state, "cuda": [per-device states], "gen": sampler state}
    curve      [EpochMetrics as dicts]
    elapsed    training seconds spent so far (the time budget counts over attempts)
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["CHECKPOINT_FORMAT", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = 1


# Plain classes a DeepSpeed ZeRO optimizer state holds besides tensors.
_DEEPSPEED_GLOBALS = (
    "deepspeed.runtime.fp16.loss_scaler.LossScaler",
    "deepspeed.runtime.fp16.loss_scaler.DynamicLossScaler",
    "deepspeed.runtime.zero.config.ZeroStageEnum",
    "deepspeed.utils.tensor_fragment.fragment_address",
)


def _engine_safe_globals() -> list[Any]:
    """Classes allowed for ``weights_only`` loading once their engine is loaded (DeepSpeed
    ZeRO's optimizer state keeps its loss scaler and stage enum)."""
    if "deepspeed" not in sys.modules:
        return []
    out = []
    for dotted in _DEEPSPEED_GLOBALS:
        mod, _, name = dotted.rpartition(".")
        try:
            out.append(getattr(importlib.import_module(mod), name))
        except (ImportError, AttributeError):  # pragma: no cover - other DeepSpeed versions
            continue
    return out


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: a reader sees the old file or the new one."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": CHECKPOINT_FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable (not on every filesystem)
        dfd = os.open(p.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def load_checkpoint(path: str | Path, tag: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it exists, is readable and belongs to ``tag``; else None
    (a torn or foreign file is not an error: training starts over)."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        with torch.serialization.safe_globals(_engine_safe_globals()):
            state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception:
        return None
    if (
        not isinstance(state, dict)
        or state.get("format") != CHECKPOINT_FORMAT
        or state.get("tag") != tag
    ):
        return None
    return state
