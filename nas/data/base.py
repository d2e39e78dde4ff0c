"""In-memory image splits: uint8/float tensors held once, sliced into batches by the trainer."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Splits", "TensorSplit"]


@dataclass
class TensorSplit:
    """Images ``(N, C, H, W)`` float32 already normalized; labels ``(N,)`` int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class Splits:
    """train / validation (held out from train) / test, plus what a model needs to know."""

    name: str
    train: TensorSplit
    val: TensorSplit
    test: TensorSplit
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.images.shape[1:]
        return int(c), int(h), int(w)
