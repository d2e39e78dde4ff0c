"""``TrainEvaluator``: Candidate -> TrialRecord by really training the model (torch).

The evaluator is a small, frozen, picklable object (it crosses into Slurm array tasks); the
data set is loaded lazily once per process and shared by every candidate evaluated there.
Any failure becomes a record, never an exception:

========== ==============================================================================
INVALID    the architecture does not build or does not run on one input image
FAILED     data set missing, out of memory (with the reason), any other error (traceback)
DIVERGED   NaN/inf loss, or a mean train loss above ``recipe.divergence_loss`` in the
           first ``recipe.divergence_epochs`` epochs
TIMEOUT    ``recipe.time_budget_s`` spent (counted over resumed attempts)
COMPLETE   trained; ``val_acc`` of the last epoch, ``test_acc`` measured once at the end
========== ==============================================================================

With ``checkpoint_dir`` set, training is checkpointed after every epoch to
``<checkpoint_dir>/<candidate_id>.pt``; the same candidate evaluated again (a requeued or
retried array task) resumes from it. Every training attempt appends one line to
``<checkpoint_dir>/starts.jsonl`` before its first epoch (:data:`STARTS_FILE`: candidate,
first and last epoch of the attempt, Slurm task and restart count): the training starts,
from which "no epoch trained twice" is counted (a first epoch > 1 is a resume).

Example::

    >>> from nas.records import Candidate
    >>> arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    >>> c = Candidate("nb201", arch, arch_hash=arch, recipe={"skeleton": {"channels": 8, "cells": 1}})
    >>> rec = TrainEvaluator(recipe=Recipe(epochs=2, batch_size=64))(c)
    >>> rec.state.value, len(rec.curve)
    ('COMPLETE', 2)
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nas.records import Candidate, TrialCost, TrialRecord, TrialState, canonical_json, content_hash
from nas.train.recipe import Recipe
from nas.train.runtime import Runtime

__all__ = ["STARTS_FILE", "TrainEvaluator", "build_model", "candidate_spec", "note_start"]

STARTS_FILE = "starts.jsonl"  # in checkpoint_dir: one line per training attempt

log = logging.getLogger("archlab.train")

_DATA_CACHE: dict[tuple[Any, ...], Any] = {}
_DATA_LOCK = threading.Lock()


def candidate_spec(
    candidate: Candidate, num_classes: int, input_shape: tuple[int, int, int]
) -> Any:
    """The :class:`nas.graph.ArchSpec` of a ``block`` or ``nb201`` candidate.

    ``candidate.recipe["skeleton"]`` gives the macro: ``macro`` (nb201 | stages), ``width``
    (or ``channels``), ``cells``, ``widths``, ``depths``. A block file may carry
    ``*_stem``/``*_downsample`` blocks next to the base block.
    """
    from nas.graph.nb201 import nb201_spec
    from nas.graph.spec import spec_from_blocks
    from nas.graph.text import parse_blocks

    sk = dict(candidate.recipe.get("skeleton", {}))
    width = int(sk.get("width") or sk.get("channels") or 16)
    if candidate.arch_kind == "nb201":
        from dataclasses import replace

        spec = nb201_spec(candidate.arch, width, int(sk.get("cells", 5)), num_classes)
        return replace(spec, input_shape=input_shape)
    return spec_from_blocks(
        parse_blocks(candidate.arch),
        kind=str(sk.get("macro") or sk.get("kind") or "nb201"),
        width=width,
        cells=int(sk.get("cells", 5)),
        widths=tuple(int(w) for w in sk.get("widths", ())),
        depths=tuple(int(d) for d in sk.get("depths", ())),
        num_classes=num_classes,
        input_shape=input_shape,
    )


def build_model(
    candidate: Candidate, num_classes: int, in_channels: int, image_size: int = 32
) -> Any:
    """The torch module of a candidate, dispatched on ``arch_kind``:

    * ``nb201``: NAS-Bench-201's network (:class:`nas.models.nb201.NB201Network`; skeleton
      ``channels``/``width`` C and ``cells`` N);
    * ``block``: the block file compiled by the graph compiler (``nas.graph.build_model``)
      into the macro skeleton of :func:`candidate_spec`.

    A ValueError/KeyError means the architecture is invalid.
    """
    skeleton = dict(candidate.recipe.get("skeleton", {}))
    if candidate.arch_kind == "nb201":
        from nas.models.nb201 import NB201Network

        return NB201Network(
            candidate.arch,
            channels=int(skeleton.get("channels") or skeleton.get("width") or 16),
            cells=int(skeleton.get("cells", 5)),
            num_classes=num_classes,
            in_channels=in_channels,
        )
    if candidate.arch_kind == "block":
        from nas.graph import build_model as compile_spec

        spec = candidate_spec(candidate, num_classes, (in_channels, image_size, image_size))
        return compile_spec(spec)
    raise ValueError(
        f"no model builder for arch_kind {candidate.arch_kind!r}; TrainEvaluator builds "
        "'nb201' and 'block' candidates"
    )


def note_start(checkpoint_dir: str, candidate_id: str, first: int, last: int) -> None:
    """Append a training start to ``<checkpoint_dir>/starts.jsonl`` (one ``write`` of one
    short line in append mode: whole lines even with several tasks writing). A ledger that
    cannot be written is logged, never a training failure."""
    env = os.environ
    task = env.get("SLURM_ARRAY_JOB_ID", "")
    task = f"{task}_{env.get('SLURM_ARRAY_TASK_ID', '')}" if task else env.get("SLURM_JOB_ID", "")
    line = json.dumps({"candidate_id": candidate_id, "first_epoch": first, "last_epoch": last,
                       "slurm_task": task, "restart": int(env.get("SLURM_RESTART_COUNT") or 0),
                       "pid": os.getpid(), "t": round(time.time(), 3)})  # fmt: skip
    try:
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(checkpoint_dir) / STARTS_FILE, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError as e:
        log.warning("could not note the training start of %s in %s: %s", candidate_id,
                    checkpoint_dir, e)  # fmt: skip


@dataclass(frozen=True)
class TrainEvaluator:
    """Train each candidate with ``recipe`` (fields in ``candidate.recipe`` override it) on
    ``dataset`` (``demo`` needs no ``data_dir``) and return its TrialRecord.

    The validation split is drawn with ``split_seed`` (the same for every candidate of a run)
    unless ``split_file`` (NB201 format) gives it; the candidate's ``seed`` drives weights,
    batch order and augmentation.
    """

    dataset: str = "demo"  # demo | cifar10 | cifar100 | imagenet16 | imagefolder
    data_dir: str = ""  # folder holding the data set (not needed for demo)
    val_fraction: float = 0.2  # share of the training set held out for validation
    recipe: Recipe = field(default_factory=Recipe)
    name: str = "train"  # TrialRecord.evaluator
    split_file: str = ""  # optional NB201 split file (see nas.data.splits)
    split_seed: int = 0  # seed of the validation split
    runtime: Runtime = field(default_factory=Runtime)  # device, precision, threads, engine
    checkpoint_dir: str = ""  # per-epoch checkpoints <dir>/<candidate_id>.pt ("" = none)
    keep_checkpoints: bool = False  # keep a candidate's checkpoint after its final outcome

    def checkpoint_path(self, candidate: Candidate) -> Path | None:
        """Where ``candidate``'s checkpoint lives (None without ``checkpoint_dir``)."""
        return Path(self.checkpoint_dir) / f"{candidate.id}.pt" if self.checkpoint_dir else None

    def load_data(self, image_size: int = 0) -> Any:
        """The data set's Splits, loaded once per process."""
        from nas.data import load_dataset

        key = (
            self.dataset,
            self.data_dir,
            self.val_fraction,
            self.split_file,
            self.split_seed,
            image_size,
        )
        with _DATA_LOCK:
            if key not in _DATA_CACHE:
                _DATA_CACHE[key] = load_dataset(
                    self.dataset,
                    self.data_dir,
                    val_fraction=self.val_fraction,
                    seed=self.split_seed,
                    split_file=self.split_file,
                    image_size=image_size,
                )
            return _DATA_CACHE[key]

    def _fail(
        self, cid: str, state: TrialState, error: str, started: float, **kw: Any
    ) -> TrialRecord:
        now = time.time()
        return TrialRecord(
            candidate_id=cid,
            state=state,
            error=error,
            evaluator=self.name,
            started_at=started,
            finished_at=now,
            cost=kw.pop("cost", TrialCost(wall_seconds=now - started)),
            **kw,
        )

    def __call__(self, candidate: Candidate) -> TrialRecord:
        return self._evaluate(candidate)

    def evaluate_at(self, candidate: Candidate, epochs: int, from_epochs: int = 0,
                    full: int = 0) -> TrialRecord:  # fmt: skip
        """Train ``candidate`` to epoch ``epochs`` of its recipe's schedule (a fidelity rung;
        the recipe's ``epochs`` must equal ``full``). Needs ``checkpoint_dir``: the
        checkpoint is kept at a rung, and a promoted candidate resumes from it (its record's
        ``metrics['resumed_epoch']`` = ``from_epochs``), never from scratch. The record
        carries ``fidelity_epochs``/``fidelity_max``."""
        if not self.checkpoint_dir:
            raise ValueError("a fidelity rung needs train.checkpoint_dir (promotion resumes "
                             "from the rung's checkpoint)")  # fmt: skip
        rec = self._evaluate(candidate, stop_after=epochs)
        rec = rec.with_(fidelity_epochs=epochs, fidelity_max=full)
        total = sum(e.seconds for e in rec.curve)
        before = sum(e.seconds for e in rec.curve if e.epoch <= from_epochs)
        if from_epochs and total > 0 and rec.cost.gpu_seconds:
            # the loop counts time over every attempt; the earlier rungs were charged to
            # their own tasks, so this one is charged the share of its own epochs
            gpu = rec.cost.gpu_seconds * (1.0 - before / total)
            rec = rec.with_(cost=replace(rec.cost, gpu_seconds=gpu))
        return rec

    def _evaluate(self, candidate: Candidate, stop_after: int = 0) -> TrialRecord:
        started = time.time()
        cid = candidate.id
        # 1. recipe and data: a problem here is the run's, not the architecture's -> FAILED
        try:
            from nas.data import canonical_dataset

            recipe = self.recipe.merged(candidate.recipe).validate()
            self.runtime.validate()
            wanted = candidate.recipe.get("dataset")
            if wanted and canonical_dataset(str(wanted)) != canonical_dataset(self.dataset):
                raise ValueError(
                    f"candidate was proposed for dataset {wanted!r} but this evaluator trains "
                    f"on {self.dataset!r}; make train.dataset and the strategy agree"
                )
            data = self.load_data(recipe.image_size)
        except Exception as e:
            return self._fail(cid, TrialState.FAILED, f"{type(e).__name__}: {e}", started)
        # 2. the model: does not build or does not run on one image -> INVALID
        try:
            import torch

            from nas.train.cost import count_macs, count_params

            torch.manual_seed(candidate.seed)
            c, h, _ = data.input_shape
            model = build_model(candidate, data.num_classes, c, h)
        except (ValueError, KeyError, TypeError) as e:
            return self._fail(cid, TrialState.INVALID, f"{type(e).__name__}: {e}", started)
        except Exception as e:
            return self._fail(
                cid,
                TrialState.FAILED,
                f"{type(e).__name__}: {e}\n{traceback.format_exc()}",
                started,
            )
        try:
            params = count_params(model)
            macs = count_macs(model, data.input_shape)
        except Exception as e:
            return self._fail(
                cid,
                TrialState.INVALID,
                f"the model does not run on one {data.input_shape} image: {type(e).__name__}: {e}",
                started,
            )
        # 3. training: the loop turns every failure into an outcome
        from nas.train.loop import train

        tag = content_hash(cid, canonical_json(recipe.to_dict()))
        ckdir = self.checkpoint_dir
        outcome = train(
            model,
            data,
            recipe,
            seed=candidate.seed,
            runtime=self.runtime,
            checkpoint=self.checkpoint_path(candidate),
            tag=tag,
            keep_checkpoint=self.keep_checkpoints,
            stop_after=stop_after,
            on_start=(lambda first, last: note_start(ckdir, cid, first, last)) if ckdir else None,
        )
        metrics: dict[str, float] = {}
        if outcome.curve:
            last = outcome.curve[-1]
            metrics.update(
                val_acc=last.val_acc,
                val_loss=last.val_loss,
                train_acc=last.train_acc,
                train_loss=last.train_loss,
            )
        if outcome.test_acc is not None:
            metrics["test_acc"] = outcome.test_acc
        if outcome.test_loss is not None:
            metrics["test_loss"] = outcome.test_loss
        if outcome.resumed_epoch:
            metrics["resumed_epoch"] = float(outcome.resumed_epoch)
        if outcome.images_per_s:
            metrics["train_images_per_s"] = outcome.images_per_s
        if outcome.bf16:
            metrics["bf16"] = 1.0
        metrics = {k: float(v) for k, v in metrics.items() if abs(v) != float("inf") and v == v}
        finished = time.time()
        on_gpu = outcome.device.startswith("cuda")
        return TrialRecord(
            candidate_id=cid,
            state=outcome.state,
            metrics=metrics,
            cost=TrialCost(
                params=params,
                macs=macs,
                flops=2 * macs,
                wall_seconds=finished - started,
                gpu_seconds=outcome.train_seconds * outcome.world if on_gpu else 0.0,
            ),
            curve=tuple(outcome.curve),
            error=outcome.error,
            evaluator=self.name,
            started_at=started,
            finished_at=finished,
        )
