"""The training loop: SGD with a per-step cosine schedule over in-memory tensors, validation
each epoch, test at the end, divergence/OOM/time-budget detection, per-epoch checkpoints.

It returns data (:class:`TrainOutcome`) and never raises for a bad model: NaN/inf or a loss
above the divergence threshold -> DIVERGED, out of memory -> FAILED with the reason, the time
budget -> TIMEOUT, anything else -> FAILED with the traceback; every outcome keeps the curve
so far. ``BaseException`` (``KeyboardInterrupt``, ``SystemExit`` on preemption) passes through:
the last per-epoch checkpoint is where the next attempt resumes.

Example (2 epochs on the embedded digits)::

    >>> from nas.data import load_demo
    >>> from nas.models.nb201 import NB201Network
    >>> arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    >>> out = train(NB201Network(arch, 8, 1), load_demo(), Recipe(epochs=2, batch_size=64), seed=0)
    >>> out.state.value, len(out.curve)
    ('COMPLETE', 2)
"""

from __future__ import annotations

import contextlib
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nas.data.base import Splits, TensorSplit
from nas.records import EpochMetrics, TrialState
from nas.train.checkpoint import load_checkpoint, save_checkpoint
from nas.train.engine import Engine, make_engine
from nas.train.recipe import Recipe, cosine_lr
from nas.train.runtime import Runtime

__all__ = ["TrainOutcome", "augment", "evaluate", "is_oom", "train"]


@dataclass
class TrainOutcome:
    """What one training produced (the evaluator turns it into a TrialRecord)."""

    state: TrialState
    curve: list[EpochMetrics] = field(default_factory=list)
    test_acc: float | None = None
    test_loss: float | None = None
    error: str = ""
    resumed_epoch: int = 0  # epochs restored from a checkpoint (0 = fresh start)
    device: str = "cpu"
    world: int = 1  # processes (GPUs) training this candidate
    bf16: bool = False
    train_seconds: float = 0.0  # training + validation seconds, over all attempts
    stopped_at: int = 0  # a fidelity rung: trained to this epoch of the schedule, no test (0 = no)
    images_per_s: float = 0.0  # training images per second of this attempt


def is_oom(e: BaseException) -> bool:
    """True for CUDA/CPU out-of-memory errors."""
    oom = getattr(torch, "OutOfMemoryError", None)
    if oom is not None and isinstance(e, oom):
        return True
    return isinstance(e, (RuntimeError, MemoryError)) and (
        isinstance(e, MemoryError) or "out of memory" in str(e).lower()
    )


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding of side/8 and a horizontal flip, per image, batched on the
    tensor's device (``uint8`` or float ``(B, C, H, W)``); randomness from ``gen`` (CPU)."""
    n, c, h, w = x.shape
    pad = max(1, h // 8)
    xp = F.pad(x, (pad, pad, pad, pad))
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    cols = dx.view(n, 1) + torch.arange(w).view(1, w)
    cols = torch.where(flip.view(n, 1), cols.flip(1), cols)  # flip = read columns backwards
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h)).to(x.device)
    cols = cols.to(x.device)
    idx_n = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    idx_c = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return xp[idx_n, idx_c, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]


def _prepare(
    split: TensorSplit, x: torch.Tensor, channels_last: bool, dtype: torch.dtype | None
) -> torch.Tensor:
    x = split.normalize(x)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x.to(dtype) if dtype is not None else x


@torch.no_grad()
def evaluate(
    model: nn.Module,
    split: TensorSplit,
    batch_size: int = 1024,
    *,
    bf16: bool = False,
    channels_last: bool = False,
    input_dtype: torch.dtype | None = None,
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on ``split`` (on the model's device)."""
    model.eval()
    dev = next(model.parameters()).device
    total_loss = torch.zeros((), dtype=torch.float64, device=dev)
    correct = torch.zeros((), dtype=torch.int64, device=dev)
    for i in range(0, len(split), batch_size):
        x = split.images[i : i + batch_size].to(dev, non_blocking=True)
        y = split.labels[i : i + batch_size].to(dev, non_blocking=True)
        x = _prepare(split, x, channels_last, input_dtype)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        total_loss += F.cross_entropy(logits.float(), y, reduction="sum").double()
        correct += (logits.argmax(1) == y).sum()
    n = max(1, len(split))
    return float(total_loss) / n, int(correct) / n


def _rng_state(gen: torch.Generator) -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "gen": gen.get_state(),
    }


def _set_rng_state(state: dict[str, Any], gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    gen.set_state(state["gen"])


def train(
    model: nn.Module,
    data: Splits,
    recipe: Recipe,
    seed: int,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    *,
    runtime: Runtime | None = None,
    checkpoint: str | Path | None = None,
    tag: str = "",
    keep_checkpoint: bool = False,
    stop_after: int = 0,
    on_start: Callable[[int, int], None] | None = None,
) -> TrainOutcome:
    """Train ``model`` on ``data.train``, validate each epoch, test once at the end.

    ``checkpoint``: a file written after every epoch and resumed from when it exists and
    carries the same ``tag`` (e.g. candidate id + recipe hash); it is removed once the
    outcome is final (COMPLETE, DIVERGED, TIMEOUT) unless ``keep_checkpoint``. Same seed +
    same checkpoint -> the same result as an uninterrupted run (on CPU, bit for bit).

    ``stop_after``: a fidelity rung (issue 25) — train the recipe's schedule (its learning
    rate follows all ``recipe.epochs``) only up to this epoch, keep the checkpoint and skip
    the test; the next call with a later ``stop_after`` (or 0 = to the end) resumes there.

    ``on_start(first, last)``: called once the checkpoint is restored, before the first epoch
    this attempt trains (epochs ``first..last``; ``first`` = 1 is a start from scratch).
    """
    rt = runtime or Runtime()
    out = TrainOutcome(state=TrialState.COMPLETE)
    try:
        _train(model, data, recipe.validate(), seed, on_epoch, rt.validate(), out, checkpoint, tag,
               stop_after, on_start)  # fmt: skip
    except Exception as e:
        out.state = TrialState.FAILED
        last = f" after epoch {out.curve[-1].epoch}" if out.curve else " in the first epoch"
        if is_oom(e):
            out.error = (
                f"out of memory{last} on {out.device} (batch_size={recipe.batch_size}): "
                f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} — lower "
                "the batch size or the width, or give the task more memory"
            )
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        else:
            out.error = f"{type(e).__name__}: {e}{last}\n{traceback.format_exc()}"
        return out
    if checkpoint and not keep_checkpoint and not out.stopped_at:
        with contextlib.suppress(OSError):
            Path(checkpoint).unlink(missing_ok=True)
    return out


def _train(
    model: nn.Module,
    data: Splits,
    recipe: Recipe,
    seed: int,
    on_epoch: Callable[[EpochMetrics], None] | None,
    rt: Runtime,
    out: TrainOutcome,
    checkpoint: str | Path | None,
    tag: str,
    stop_after: int = 0,
    on_start: Callable[[int, int], None] | None = None,
) -> None:
    dev = rt.resolve_device()
    out.device = str(dev)
    if dev.type == "cpu":
        torch.set_num_threads(rt.cpu_threads())
    bf16 = rt.use_bf16(dev.type) and rt.engine == "torch"
    # DeepSpeed flattens parameters into one buffer: it needs them contiguous (NCHW)
    cl = rt.use_channels_last(dev.type) and rt.engine == "torch"
    out.bf16 = bf16
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)

    train_split = data.train
    if recipe.data_fraction < 1.0:
        n_keep = max(1, int(len(train_split) * recipe.data_fraction))
        pick = torch.Generator().manual_seed(seed + 7919)
        keep = torch.randperm(len(train_split), generator=pick)[:n_keep].sort().values
        train_split = train_split.subset(keep)
    val_split, test_split = data.val, data.test
    if dev.type == "cuda" and rt.gpu_data:
        train_split, val_split, test_split = (
            s.to(dev) for s in (train_split, val_split, test_split)
        )

    model.to(dev)
    if cl:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    engine: Engine = make_engine(model, recipe, rt, dev)
    out.world = engine.world
    n = len(train_split)
    bs = recipe.batch_size
    steps = max(1, math.ceil(n / bs))
    epochs = recipe.epochs
    sched = {
        "kind": "cosine-per-step",
        "lr0": recipe.lr,
        "epochs": epochs,
        "steps_per_epoch": steps,
    }

    start_epoch, elapsed0 = 0, 0.0
    state = load_checkpoint(checkpoint, tag) if checkpoint else None
    if state is not None:
        engine.load_state_dict(state)
        _set_rng_state(state["rng"], gen)
        out.curve = [EpochMetrics(**e) for e in state["curve"]]
        start_epoch, elapsed0 = int(state["epoch"]), float(state["elapsed"])
        out.resumed_epoch = start_epoch

    def ev(split: TensorSplit) -> tuple[float, float]:
        return evaluate(
            engine.module,
            split,
            rt.eval_batch_size,
            bf16=bf16,
            channels_last=cl,
            input_dtype=engine.input_dtype,
        )

    check_every = 1 if dev.type == "cpu" else 25  # a finiteness check syncs the GPU
    t_start = time.monotonic()
    seen_total, step_seconds = 0, 0.0
    budget = recipe.time_budget_s

    def elapsed() -> float:
        return elapsed0 + time.monotonic() - t_start

    last = stop_after if 0 < stop_after < epochs else epochs
    if on_start is not None:
        on_start(start_epoch + 1, last)
    for epoch in range(start_epoch + 1, last + 1):
        t0 = time.monotonic()
        lr_epoch = cosine_lr(recipe.lr, (epoch - 1) / epochs)
        engine.module.train()
        perm = torch.randperm(n, generator=gen)
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        seen = 0
        for s in range(steps):
            engine.set_lr(cosine_lr(recipe.lr, (epoch - 1 + s / steps) / epochs))
            idx = perm[s * bs : (s + 1) * bs]
            if engine.world > 1:
                idx = idx[engine.rank :: engine.world]
            idx_d = idx.to(train_split.images.device)
            x, y = train_split.images[idx_d], train_split.labels[idx_d]
            if recipe.augment:
                x = augment(x, gen)
            x = _prepare(train_split, x.to(dev, non_blocking=True), cl, engine.input_dtype)
            y = y.to(dev, non_blocking=True)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                logits = engine.forward(x)
            loss = F.cross_entropy(logits.float(), y)
            engine.step(loss)
            loss_sum += loss.detach().double() * len(idx)
            correct += (logits.detach().argmax(1) == y).sum()
            seen += len(idx)
            if ((s + 1) % check_every == 0 or s == steps - 1) and not bool(
                torch.isfinite(loss_sum)
            ):
                out.state = TrialState.DIVERGED
                out.error = (
                    f"non-finite training loss ({float(loss.detach()):.3g}) in epoch {epoch}, step "
                    f"{s + 1}/{steps} (lr {cosine_lr(recipe.lr, (epoch - 1 + s / steps) / epochs):.3g})"
                )
                out.train_seconds = elapsed()
                return
            if budget and elapsed() > budget and not (epoch == epochs and s == steps - 1):
                out.state = TrialState.TIMEOUT
                out.error = (
                    f"time budget {budget:g} s exhausted in epoch {epoch}/{epochs} "
                    f"(step {s + 1}/{steps}); metrics are those of epoch {epoch - 1}"
                )
                out.train_seconds = elapsed()
                return
        seen_total += seen
        step_seconds += time.monotonic() - t0
        val_loss, val_acc = ev(val_split)
        m = EpochMetrics(
            epoch=epoch,
            train_loss=float(loss_sum) / max(1, seen),
            train_acc=int(correct) / max(1, seen),
            val_loss=val_loss,
            val_acc=val_acc,
            lr=lr_epoch,
            seconds=time.monotonic() - t0,
        )
        out.curve.append(m)
        if on_epoch:
            on_epoch(m)
        if epoch <= recipe.divergence_epochs and m.train_loss > recipe.divergence_loss:
            out.state = TrialState.DIVERGED
            out.error = (
                f"train loss {m.train_loss:.3g} > divergence threshold {recipe.divergence_loss:g} "
                f"in epoch {epoch} (checked in the first {recipe.divergence_epochs} epochs)"
            )
            out.train_seconds = elapsed()
            return
        if checkpoint and engine.rank == 0:
            save_checkpoint(
                checkpoint,
                {
                    "tag": tag,
                    "epoch": epoch,
                    **engine.state_dict(),
                    "scheduler": {**sched, "step": epoch * steps},
                    "rng": _rng_state(gen),
                    "curve": [asdict(e) for e in out.curve],
                    "elapsed": elapsed(),
                },
            )
        if budget and elapsed() > budget and epoch < epochs:
            out.state = TrialState.TIMEOUT
            out.error = f"time budget {budget:g} s exhausted after epoch {epoch}/{epochs}"
            out.train_seconds = elapsed()
            return
    out.images_per_s = seen_total / step_seconds if seen_total and step_seconds > 0 else 0.0
    out.train_seconds = elapsed()
    if last < epochs:  # a rung: the checkpoint stays for the promotion, no test yet
        out.stopped_at = last
        return
    out.test_loss, out.test_acc = ev(test_split)
