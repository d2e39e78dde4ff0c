"""The training loop: SGD + cosine schedule over in-memory tensors, validation each epoch,
test at the end, divergence detection. Returns data; never raises for a bad model."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from nas.data.base import Splits, TensorSplit
from nas.records import EpochMetrics, TrialState
from nas.train.recipe import Recipe

__all__ = ["TrainOutcome", "evaluate", "train"]


@dataclass
class TrainOutcome:
    state: TrialState
    curve: list[EpochMetrics] = field(default_factory=list)
    test_acc: float | None = None
    test_loss: float | None = None
    error: str = ""


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding of side/8 and horizontal flip, batched on the tensor's device."""
    n, _, h, w = x.shape
    pad = max(1, h // 8)
    xp = F.pad(x, (pad, pad, pad, pad))
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h)).to(x.device)
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w)).to(x.device)
    idx_n = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    idx_c = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
    out = xp[idx_n, idx_c, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip.to(x.device)] = out[flip.to(x.device)].flip(3)
    return out


@torch.no_grad()
def evaluate(model: nn.Module, split: TensorSplit, batch_size: int = 512) -> tuple[float, float]:
    """(mean loss, accuracy) of ``model`` on ``split``."""
    model.eval()
    total_loss, correct = 0.0, 0
    for i in range(0, len(split), batch_size):
        x, y = split.images[i : i + batch_size], split.labels[i : i + batch_size]
        logits = model(x)
        total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    n = max(1, len(split))
    return total_loss / n, correct / n


def train(
    model: nn.Module,
    data: Splits,
    recipe: Recipe,
    seed: int,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
) -> TrainOutcome:
    """Train ``model`` on ``data.train``, validate each epoch, test once at the end."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    train_split = data.train
    if recipe.data_fraction < 1.0:
        n = max(1, int(len(train_split) * recipe.data_fraction))
        keep = torch.randperm(len(train_split), generator=gen)[:n]
        train_split = TensorSplit(train_split.images[keep], train_split.labels[keep])
    opt = torch.optim.SGD(
        model.parameters(),
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov and recipe.momentum > 0,
        weight_decay=recipe.weight_decay,
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=max(1, recipe.epochs), eta_min=0.0
    )
    out = TrainOutcome(state=TrialState.COMPLETE)
    start = time.monotonic()
    n = len(train_split)
    for epoch in range(1, recipe.epochs + 1):
        t0 = time.monotonic()
        lr = float(opt.param_groups[0]["lr"])
        model.train()
        perm = torch.randperm(n, generator=gen)
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(0, n, recipe.batch_size):
            idx = perm[i : i + recipe.batch_size]
            x, y = train_split.images[idx], train_split.labels[idx]
            if recipe.augment:
                x = _augment(x, gen)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            if not torch.isfinite(loss):
                out.state = TrialState.DIVERGED
                out.error = f"non-finite training loss ({float(loss)}) in epoch {epoch}, step {i // recipe.batch_size}"
                return out
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
        sched.step()
        val_loss, val_acc = evaluate(model, data.val)
        m = EpochMetrics(
            epoch=epoch,
            train_loss=loss_sum / max(1, seen),
            train_acc=correct / max(1, seen),
            val_loss=val_loss,
            val_acc=val_acc,
            lr=lr,
            seconds=time.monotonic() - t0,
        )
        out.curve.append(m)
        if on_epoch:
            on_epoch(m)
        if epoch <= recipe.divergence_epochs and (
            not math.isfinite(m.train_loss) or m.train_loss > recipe.divergence_loss
        ):
            out.state = TrialState.DIVERGED
            out.error = (
                f"train loss {m.train_loss:.3g} > divergence threshold {recipe.divergence_loss} "
                f"in epoch {epoch} (checked in the first {recipe.divergence_epochs} epochs)"
            )
            return out
        if (
            recipe.time_budget_s
            and time.monotonic() - start > recipe.time_budget_s
            and epoch < recipe.epochs
        ):
            out.state = TrialState.TIMEOUT
            out.error = f"time budget {recipe.time_budget_s:.0f} s exhausted after epoch {epoch}/{recipe.epochs}"
            return out
    out.test_loss, out.test_acc = evaluate(model, data.test)
    return out
