"""``archlab train SPEC_FILE``: train one architecture and print its TrialRecord.

SPEC_FILE is a block file (graph format; ``*_stem``/``*_downsample`` blocks optional), a file
holding an NB201 arch string, or the name of a built-in seed block (e.g. ``resnet_basic``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nas.spaces.config import SpaceConfig
from nas.train.config import DATASETS, TrainConfig
from nas.train.runtime import ENGINES

__all__ = ["read_spec_file", "register", "run_train"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train",
        help="train one architecture (block file or NB201 arch string) and print its record",
        description=(
            "Train one architecture with the NAS-Bench-201 recipe (SGD Nesterov, lr 0.1 cosine, "
            "wd 5e-4, batch 256, crop+flip) and print its TrialRecord. Example: "
            "archlab train resnet_basic --dataset demo --epochs 3 --width 16"
        ),
    )
    p.add_argument(
        "spec_file",
        metavar="SPEC_FILE",
        help="block file, file with an NB201 arch string, or a seed block name",
    )
    t, sp = TrainConfig(), SpaceConfig()  # every default below is the run config's default
    p.add_argument("--dataset", default=t.dataset, choices=DATASETS,
                   help=f"data set (default: {t.dataset})")  # fmt: skip
    p.add_argument(
        "--data-dir", default=t.data_dir, help="folder holding the data set (not for demo)"
    )
    p.add_argument(
        "--split-file", default=t.split_file, help="NB201 split file for the validation split"
    )
    p.add_argument(
        "--val-fraction", type=float, default=t.val_fraction, help="held-out share of train"
    )
    p.add_argument(
        "--epochs", type=int, default=t.epochs, help=f"epochs (default {t.epochs}, NB201's)"
    )
    p.add_argument("--batch-size", type=int, default=t.batch_size, help="batch size (NB201: 256)")
    p.add_argument("--lr", type=float, default=t.lr, help="initial learning rate (NB201: 0.1)")
    p.add_argument(
        "--data-fraction", type=float, default=t.data_fraction, help="share of train used"
    )
    p.add_argument("--image-size", type=int, default=t.image_size, help="resize side (0 = native)")
    p.add_argument("--no-augment", action="store_true", help="no random crop + flip")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, batches, augmentation")
    p.add_argument("--macro", default=sp.macro, choices=("nb201", "stages"), help="skeleton")
    p.add_argument("--width", type=int, default=sp.nb201_channels,
                   help=f"first-stage channels (space.nb201_channels, default {sp.nb201_channels}; NB201 paper: 16)")  # fmt: skip
    p.add_argument("--cells", type=int, default=sp.nb201_cells,
                   help=f"blocks per stage, nb201 macro (space.nb201_cells, default {sp.nb201_cells}; paper: 5)")  # fmt: skip
    p.add_argument("--widths", default="", help="stages macro: comma-separated stage widths")
    p.add_argument("--depths", default="", help="stages macro: comma-separated blocks/stage")
    p.add_argument("--time-budget", type=float, default=t.time_budget_s, help="seconds; 0 = none")
    p.add_argument("--device", default=t.device, help="auto | cpu | cuda | cuda:N")
    p.add_argument(
        "--threads", type=int, default=t.threads, help="CPU threads (0 = all of the task)"
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--engine", default=t.engine, choices=ENGINES)
    p.add_argument("--zero-stage", type=int, default=t.zero_stage, choices=(0, 1, 2))
    p.add_argument(
        "--checkpoint-dir", default=t.checkpoint_dir, help="per-epoch checkpoints; resume from"
    )
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    p.set_defaults(func=run_train)


def read_spec_file(path_or_seed: str) -> tuple[str, str]:
    """``(arch_kind, arch text)`` of SPEC_FILE: ``nb201`` for an arch string, else ``block``."""
    p = Path(path_or_seed)
    if p.is_file():
        text = p.read_text()
    else:
        from nas.graph.seeds import SEED_BLOCKS

        if path_or_seed not in SEED_BLOCKS:
            raise FileNotFoundError(
                f"SPEC_FILE {path_or_seed!r} is neither a file nor a seed block "
                f"({', '.join(SEED_BLOCKS)})"
            )
        text = SEED_BLOCKS[path_or_seed]
    stripped = " ".join(
        line for line in text.splitlines() if line.strip() and not line.startswith("#")
    ).strip()
    if stripped.startswith("|") and "~" in stripped and "##" not in stripped:
        return "nb201", stripped
    return "block", text


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def run_train(args: argparse.Namespace) -> int:
    from nas.records import Candidate, content_hash

    try:
        kind, arch = read_spec_file(args.spec_file)
    except (OSError, ValueError) as e:
        print(f"archlab train: {e}", file=sys.stderr)
        return 2
    t = TrainConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        split_file=args.split_file,
        val_fraction=args.val_fraction,
        data_fraction=args.data_fraction,
        image_size=args.image_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        augment=not args.no_augment,
        time_budget_s=args.time_budget,
        threads=args.threads,
        device=args.device,
        compile=args.compile,
        engine=args.engine,
        zero_stage=args.zero_stage,
        checkpoint_dir=args.checkpoint_dir,
    )
    try:
        t.validate("--")  # the flags' ranges, checked where the fields are defined
    except ValueError as e:
        print(f"archlab train: {e}", file=sys.stderr)
        return 2
    from launcher.build import train_evaluator

    evaluator = train_evaluator(t)
    skeleton: dict[str, Any] = {"macro": args.macro, "width": args.width, "cells": args.cells}
    if kind == "nb201":
        skeleton = {"channels": args.width, "cells": args.cells}
    if args.widths:
        skeleton["widths"] = _ints(args.widths)
    if args.depths:
        skeleton["depths"] = _ints(args.depths)
    cand = Candidate(
        arch_kind=kind,
        arch=arch,
        arch_hash=content_hash(kind, arch),
        recipe={**evaluator.recipe.to_dict(), "skeleton": skeleton},
        seed=args.seed,
    )
    if not args.json:
        print(
            f"archlab train: {kind} {Path(args.spec_file).name} on {args.dataset}, "
            f"{args.epochs} epochs, seed {args.seed} (candidate {cand.id})",
            flush=True,
        )
    rec = evaluator(cand)
    if args.json:
        row = rec.to_row()
        row["metrics"] = dict(rec.metrics)
        row["curve"] = [e.to_row() for e in rec.curve]
        print(json.dumps(row, indent=2, default=str))
    else:
        print(
            f"{'epoch':>5}  {'loss':>7}  {'acc':>6}  {'val_loss':>8}  {'val_acc':>7}  {'lr':>7}  s"
        )
        for ep in rec.curve:
            print(
                f"{ep.epoch:>5}  {ep.train_loss:>7.4f}  {ep.train_acc:>6.3f}  {ep.val_loss:>8.4f}  "
                f"{ep.val_acc:>7.3f}  {ep.lr:>7.4f}  {ep.seconds:.1f}"
            )
        print(f"state:    {rec.state.value}")
        for k in ("val_acc", "test_acc", "train_images_per_s"):
            if k in rec.metrics:
                print(f"{k + ':':<9} {rec.metrics[k]:.4f}")
        print(
            f"cost:     {rec.cost.params:,} params, {rec.cost.flops / 1e6:.1f} MFLOPs/image, "
            f"{rec.cost.wall_seconds:.1f} s"
        )
        if rec.error:
            print(f"error:    {rec.error.strip()}")
    return 0 if rec.state.value == "COMPLETE" else 1
