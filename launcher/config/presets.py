"""Built-in presets (embedded, so the installed package needs no files from ``configs/``)."""

from __future__ import annotations

from typing import Any

__all__ = ["DEMO"]

# The demo: NADER with the offline rule-based designer (no endpoint, no key) redesigning the
# ResNet basic block inside a small NAS-Bench-201 skeleton; every candidate is really
# trained for a few epochs on the embedded digits data set, in-process.
# configs/demo.yaml holds the same values (a test checks it).
DEMO: dict[str, Any] = {
    "experiment": {"name": "demo", "seed": 0},
    "space": {
        "kind": "block",
        "base_block": "resnet_basic",
        "macro": "nb201",
        "nb201_channels": 8,
        "nb201_cells": 1,
    },
    "strategy": {"name": "nader"},
    "train": {
        "dataset": "demo",
        "epochs": 3,
        "batch_size": 64,
        "lr": 0.05,
        "augment": False,
        "val_fraction": 0.2,
    },
    "executor": {"kind": "inprocess", "max_in_flight": 1},
    "budget": {"candidates": 10},
}
