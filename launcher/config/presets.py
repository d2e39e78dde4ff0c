"""Built-in presets (embedded, so the installed package needs no files from ``configs/``)."""

from __future__ import annotations

from typing import Any

__all__ = ["DEMO"]

# The demo: random search over NB201 cells (a small skeleton), each candidate really trained
# for a few epochs on the embedded digits data set, in-process. configs/demo.yaml is the same.
DEMO: dict[str, Any] = {
    "experiment": {"name": "demo", "seed": 0},
    "space": {"kind": "nb201", "nb201_channels": 8, "nb201_cells": 1},
    "strategy": {"name": "random"},
    "train": {
        "dataset": "demo",
        "epochs": 4,
        "batch_size": 64,
        "lr": 0.05,
        "augment": False,
        "val_fraction": 0.2,
    },
    "executor": {"kind": "inprocess", "max_in_flight": 1},
    "budget": {"candidates": 10},
}
