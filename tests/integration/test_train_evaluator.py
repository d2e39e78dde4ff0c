"""Real training on the embedded digits: a ResNet-basic block and an NB201 cell learn, a
diverging block is caught, an interrupted training resumes to the same result, the CLI
prints a record, and the DeepSpeed engine runs (single process, gloo) where installed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from nas.records import Candidate, TrialState
from nas.train import Recipe, Runtime, TrainEvaluator
from tests.conftest import REPO

pytestmark = pytest.mark.integration

NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
STAGES = {"macro": "stages", "width": 8, "widths": [8, 16], "depths": [1, 1]}
FAST = Recipe(epochs=3, batch_size=64, image_size=8)  # digits are 8x8 natively
CPU = Runtime(device="cpu")

SQUARE_BLOCK = """##Square##
0:input
1:output
2:Identity
3:Mul
0->2
0->3
2->3
3->1
"""


def _seed_text(name: str) -> str:
    from nas.graph import SEED_BLOCKS

    return SEED_BLOCKS[name]


@pytest.mark.parametrize(
    ("kind", "arch", "skeleton"),
    [
        ("block", "resnet_basic", STAGES),
        ("nb201", NB201, {"channels": 8, "cells": 1}),
    ],
    ids=["resnet_basic_block", "nb201_cell"],
)
def test_block_and_cell_train_clearly_above_chance(kind, arch, skeleton):
    text = _seed_text(arch) if kind == "block" else arch
    cand = Candidate(kind, text, arch_hash=arch, recipe={"skeleton": skeleton}, seed=1)
    rec = TrainEvaluator(recipe=FAST, runtime=CPU)(cand).validate()
    assert rec.state is TrialState.COMPLETE, rec.error
    assert rec.metrics["val_acc"] > 0.4 and rec.metrics["test_acc"] > 0.4  # chance: 0.1
    assert [e.epoch for e in rec.curve] == [1, 2, 3]
    assert rec.curve[-1].train_loss < rec.curve[0].train_loss
    assert all(e.seconds > 0 and 0 <= e.val_acc <= 1 for e in rec.curve)
    assert [r["epoch"] for r in rec.epoch_rows()] == [1, 2, 3]  # rows of the epochs table


def test_a_diverging_block_ends_as_diverged_within_3_epochs():
    cand = Candidate(
        "block", SQUARE_BLOCK, "square", recipe={"skeleton": STAGES | {"depths": [2, 2]}}
    )
    rec = TrainEvaluator(
        recipe=Recipe(epochs=20, batch_size=64, data_fraction=0.3, image_size=8), runtime=CPU
    )(cand).validate()
    assert rec.state is TrialState.DIVERGED, rec
    assert len(rec.curve) <= 3
    assert "divergence threshold" in rec.error or "non-finite" in rec.error


def test_interrupt_and_resume_reproduces_the_uninterrupted_run(tmp_path, monkeypatch):
    import nas.train.loop as loop

    cand = Candidate(
        "nb201", NB201, NB201, recipe={"skeleton": {"channels": 4, "cells": 1}}, seed=3
    )
    recipe = Recipe(epochs=3, batch_size=64, data_fraction=0.5, image_size=8)
    straight = TrainEvaluator(recipe=recipe, runtime=CPU)(cand)
    assert straight.state is TrialState.COMPLETE

    ev = TrainEvaluator(recipe=recipe, runtime=CPU, checkpoint_dir=str(tmp_path))
    real_save = loop.save_checkpoint

    def save_then_get_preempted(path, state):
        real_save(path, state)
        if state["epoch"] == 2:
            raise SystemExit("preempted")  # what Slurm's signal does to the array task

    monkeypatch.setattr(loop, "save_checkpoint", save_then_get_preempted)
    with pytest.raises(SystemExit):
        ev(cand)
    assert ev.checkpoint_path(cand).is_file()
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    resumed = ev(cand)  # the requeued task: same evaluator, same candidate
    assert resumed.state is TrialState.COMPLETE and resumed.metrics["resumed_epoch"] == 2

    def key(r):
        return [(e.epoch, e.train_loss, e.train_acc, e.val_loss, e.val_acc, e.lr) for e in r.curve]

    assert key(resumed) == key(straight)
    assert resumed.metrics["test_acc"] == straight.metrics["test_acc"]
    assert not ev.checkpoint_path(cand).exists()  # removed after the final outcome


def test_cli_trains_a_seed_block_and_prints_the_record_as_json():
    out = subprocess.run(
        [sys.executable, "-m", "launcher", "train", "resnet_basic", "--dataset", "demo",
         "--epochs", "1", "--batch-size", "64", "--data-fraction", "0.3", "--image-size", "8", "--macro", "stages",
         "--width", "8", "--widths", "8,16", "--depths", "1,1", "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["state"] == "COMPLETE" and rec["evaluator"] == "train"
    assert len(rec["curve"]) == 1 and 0 <= rec["val_acc"] <= 1 and rec["params"] > 0


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("deepspeed") is None,
    reason="deepspeed is not installed (optional: pip install 'archlab[deepspeed]'; "
    "DS_BUILD_OPS=0 on machines without CUDA)",
)
@pytest.mark.parametrize("stage", [0, 1, 2])
def test_deepspeed_engine_single_process_gloo(tmp_path, stage):
    # one process: RANK=0, WORLD_SIZE=1, gloo on CPU; the first init JIT-compiles a comm op
    code = f"""
from nas.records import Candidate
from nas.train import Recipe, Runtime, TrainEvaluator
c = Candidate("nb201", {NB201!r}, "x", recipe={{"skeleton": {{"channels": 4, "cells": 1}}}})
ev = TrainEvaluator(recipe=Recipe(epochs=1, batch_size=64, data_fraction=0.1, image_size=8),
                    runtime=Runtime(device="cpu", engine="deepspeed", zero_stage={stage}),
                    checkpoint_dir={str(tmp_path)!r}, keep_checkpoints=True)
r = ev(c)
print("STATE", r.state.value, r.error[:500])
again = ev(c)  # the checkpoint (kept) is resumed: nothing left to train, test only
print("RESUMED", again.state.value, again.metrics.get("resumed_epoch"), again.error[:500])
print("SAME", again.metrics["test_acc"] == r.metrics["test_acc"])
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=600
    )
    assert "STATE COMPLETE" in out.stdout, out.stdout[-2000:] + out.stderr[-3000:]
    assert "RESUMED COMPLETE 1.0" in out.stdout and "SAME True" in out.stdout, out.stdout[-2000:]
    assert len(list(tmp_path.glob("*.pt"))) == 1  # checkpointed through the engine
