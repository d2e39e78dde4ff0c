"""Trainer pieces and failure-as-data: recipe, augmentation, checkpoints, OOM, time budget,
NaN, invalid architectures, picklability (tiny models on the embedded digits)."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from torch import nn

from nas.records import Candidate, TrialState
from nas.train import Recipe, Runtime, TrainEvaluator
from nas.train.checkpoint import load_checkpoint, save_checkpoint
from nas.train.cost import count_macs, count_params
from nas.train.evaluator import STARTS_FILE
from nas.train.loop import augment, is_oom
from nas.train.recipe import cosine_lr

pytestmark = pytest.mark.unit

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
TINY = Recipe(epochs=2, batch_size=64, data_fraction=0.25, image_size=8)
CPU = Runtime(device="cpu", threads=1)


def _cand(arch=ARCH, kind="nb201", **recipe):
    return Candidate(
        kind, arch, arch_hash=arch, recipe={"skeleton": {"channels": 4, "cells": 1}, **recipe}
    )


def test_recipe_defaults_are_nb201_and_candidate_fields_override():
    r = Recipe()
    assert (r.epochs, r.batch_size, r.lr, r.momentum, r.nesterov, r.weight_decay) == (
        200, 256, 0.1, 0.9, True, 5e-4,
    )  # fmt: skip
    m = r.merged({"epochs": 12, "lr": 0.05, "dataset": "demo", "skeleton": {}})
    assert (m.epochs, m.lr, m.batch_size) == (12, 0.05, 256)
    assert Recipe.from_dict(r.to_dict()) == r
    with pytest.raises(ValueError, match="data_fraction"):
        Recipe(data_fraction=0.0).validate()
    assert cosine_lr(0.1, 0.0) == pytest.approx(0.1) and cosine_lr(0.1, 1.0) == pytest.approx(0)
    assert cosine_lr(0.1, 0.5) == pytest.approx(0.05)


def test_augment_keeps_shape_dtype_and_is_seeded():
    x = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    a = augment(x, torch.Generator().manual_seed(0))
    b = augment(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and a.dtype == torch.uint8 and torch.equal(a, b)
    # each output row is a shifted (possibly flipped) window of the zero-padded input
    assert set(a.unique().tolist()) <= set(x.unique().tolist()) | {0}


def test_checkpoint_is_atomic_tagged_and_tolerates_torn_files(tmp_path):
    p = tmp_path / "c" / "x.pt"
    save_checkpoint(p, {"tag": "a", "epoch": 3, "w": torch.ones(2)})
    assert load_checkpoint(p, "a")["epoch"] == 3
    assert load_checkpoint(p, "other") is None  # a foreign checkpoint is ignored
    assert not [f for f in p.parent.iterdir() if f.name != "x.pt"]  # no temp files left
    p.write_bytes(b"torn")
    assert load_checkpoint(p, "a") is None
    assert load_checkpoint(tmp_path / "missing.pt", "a") is None


def test_cost_counts_params_and_macs():
    m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(64, 2))
    assert count_params(m) == 3 * 4 * 9 + 64 * 2 + 2
    assert count_macs(m, (3, 4, 4)) == 4 * 4 * 4 * 27 + 64 * 2


def test_evaluator_is_picklable_and_trains_a_tiny_cell(tmp_path):
    ev = TrainEvaluator(recipe=TINY, runtime=CPU, checkpoint_dir=str(tmp_path))
    ev2 = pickle.loads(pickle.dumps(ev))
    assert ev2 == ev
    rec = ev2(_cand()).validate()
    assert rec.state is TrialState.COMPLETE and len(rec.curve) == 2
    assert rec.cost.params > 0 and rec.cost.macs > 0 and rec.cost.flops == 2 * rec.cost.macs
    assert {"val_acc", "test_acc", "train_loss", "train_images_per_s"} <= set(rec.metrics)
    assert [e.epoch for e in rec.curve] == [1, 2] and rec.curve[0].lr == pytest.approx(0.1)
    assert not list(tmp_path.glob("*.pt"))  # checkpoint removed once COMPLETE


def test_out_of_memory_is_failed_with_the_reason_and_last_metrics(monkeypatch):
    import nas.train.loop as loop

    real = loop.evaluate
    calls = []

    def evaluate_then_oom(*a, **kw):
        calls.append(1)
        if len(calls) == 2:  # validation of epoch 2
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(*a, **kw)

    monkeypatch.setattr(loop, "evaluate", evaluate_then_oom)
    rec = TrainEvaluator(recipe=TINY, runtime=CPU)(_cand()).validate()
    assert rec.state is TrialState.FAILED
    assert "out of memory after epoch 1" in rec.error and "batch_size=64" in rec.error
    assert len(rec.curve) == 1 and "val_acc" in rec.metrics
    assert is_oom(RuntimeError("CUDA error: out of memory")) and not is_oom(RuntimeError("x"))


def test_time_budget_ends_as_timeout_with_the_last_metrics(monkeypatch):
    import nas.train.loop as loop

    clock = iter(range(0, 10_000, 1))  # every monotonic() call advances one second
    monkeypatch.setattr(loop.time, "monotonic", lambda: float(next(clock)))
    rec = TrainEvaluator(recipe=Recipe(**{**TINY.to_dict(), "epochs": 50, "time_budget_s": 8}),
                         runtime=CPU)(_cand()).validate()  # fmt: skip
    assert rec.state is TrialState.TIMEOUT and "time budget 8 s" in rec.error
    assert 1 <= len(rec.curve) < 50 and "val_acc" in rec.metrics and "test_acc" not in rec.metrics


def test_nan_loss_is_diverged_immediately(monkeypatch):
    import nas.train.loop as loop

    real_ce = loop.F.cross_entropy

    def nan_ce(logits, y, **kw):
        return real_ce(logits, y, **kw) * float("nan")

    monkeypatch.setattr(loop.F, "cross_entropy", nan_ce)
    rec = TrainEvaluator(recipe=TINY, runtime=CPU)(_cand()).validate()
    assert rec.state is TrialState.DIVERGED and "non-finite training loss" in rec.error
    assert "epoch 1, step 1/" in rec.error and rec.curve == ()


def test_bad_architectures_are_invalid_and_missing_data_is_failed(tmp_path):
    ev = TrainEvaluator(recipe=TINY, runtime=CPU)
    bad = ev(_cand(arch="|nor_conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
    assert bad.state is TrialState.INVALID and "unknown NB201 op" in bad.validate().error
    other = ev(_cand(kind="macro"))
    assert other.state is TrialState.INVALID and "arch_kind" in other.error
    missing = TrainEvaluator(dataset="cifar10", data_dir=str(tmp_path), recipe=TINY)(_cand())
    assert missing.state is TrialState.FAILED and "cifar-10-python.tar.gz" in missing.error
    wrong = ev(_cand(dataset="cifar100"))
    assert wrong.state is TrialState.FAILED and "proposed for dataset" in wrong.error


def test_a_block_the_graph_rejects_is_invalid():
    block = "##B##\n0:input\n1:output\n2:Frobnicate(k=3)\n0->2\n2->1\n"
    sk = {"macro": "stages", "width": 4, "widths": [4], "depths": [1]}
    rec = TrainEvaluator(recipe=TINY, runtime=CPU)(
        Candidate("block", block, "h", recipe={"skeleton": sk})
    )
    assert rec.state is TrialState.INVALID and "Frobnicate" in rec.validate().error


def test_runtime_rejects_unknown_values():
    with pytest.raises(ValueError, match="engine"):
        Runtime(engine="jax").validate()
    with pytest.raises(ValueError, match="zero_stage"):
        Runtime(zero_stage=3).validate()
    assert Runtime().use_bf16("cuda") and not Runtime().use_bf16("cpu")
    assert Runtime().use_channels_last("cpu") and not Runtime(
        channels_last="off"
    ).use_channels_last("cpu")


def test_a_rung_keeps_its_checkpoint_and_the_promotion_resumes_from_it(tmp_path):
    """Issue 25: ``evaluate_at`` trains to a rung of the recipe's schedule, keeps the
    checkpoint, skips the test; the promoted task resumes there (never from scratch) and
    ends where an uninterrupted training ends."""
    ref = TrainEvaluator(recipe=TINY, runtime=CPU)(_cand())
    ev = TrainEvaluator(recipe=TINY, runtime=CPU, checkpoint_dir=str(tmp_path))
    rung = ev.evaluate_at(_cand(), 1, 0, full=2).validate()
    assert rung.state is TrialState.COMPLETE and (rung.fidelity_epochs, rung.fidelity_max) == (1, 2)
    assert len(rung.curve) == 1 and "test_acc" not in rung.metrics and not rung.is_final
    assert list(tmp_path.iterdir())  # kept for the promotion
    top = ev.evaluate_at(_cand(), 2, 1, full=2).validate()
    assert top.metrics["resumed_epoch"] == 1.0 and top.is_final and len(top.curve) == 2
    assert top.metrics["val_acc"] == ref.metrics["val_acc"]  # same as uninterrupted (CPU)
    assert top.metrics["test_acc"] == ref.metrics["test_acc"]
    assert [f.name for f in tmp_path.iterdir()] == [STARTS_FILE]  # checkpoint removed once final
    starts = [json.loads(x) for x in (tmp_path / STARTS_FILE).read_text().splitlines()]
    # the training starts: epoch 1 from scratch, then epoch 2 resumed (nothing trained twice)
    assert [(s["first_epoch"], s["last_epoch"]) for s in starts] == [(1, 1), (2, 2)]
    assert {s["candidate_id"] for s in starts} == {_cand().id}
    with pytest.raises(ValueError, match="train.checkpoint_dir"):
        TrainEvaluator(recipe=TINY, runtime=CPU).evaluate_at(_cand(), 1, 0, full=2)
