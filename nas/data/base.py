"""In-memory image splits: tensors held once, sliced into batches by the trainer.

Images are either raw pixels ``uint8 (N, C, H, W)`` with a per-channel ``mean``/``std`` (in
[0, 1] pixel units) that the trainer applies per batch after augmentation — this is how the
disk data sets are held (CIFAR-10 train is 150 MB as uint8, 600 MB as float32) — or
``float32 (N, C, H, W)`` already normalized (empty ``mean``/``std``), as the demo set is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

__all__ = ["DatasetNotFoundError", "Splits", "TensorSplit"]


class DatasetNotFoundError(FileNotFoundError):
    """A data set's files are not where they were looked for; the message names every path
    searched and how to obtain the data."""


@dataclass
class TensorSplit:
    """Images ``(N, C, H, W)`` (``uint8`` raw pixels or ``float32`` normalized); labels
    ``(N,)`` int64. ``mean``/``std`` (one value per channel, pixel units in [0, 1]) normalize
    ``uint8`` images; they are empty for already-normalized float images."""

    images: torch.Tensor
    labels: torch.Tensor
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def is_raw(self) -> bool:
        """True when images are uint8 pixels that still need normalization."""
        return self.images.dtype == torch.uint8

    def subset(self, index: torch.Tensor) -> TensorSplit:
        """The rows ``index`` (a 1-D long tensor), same normalization."""
        return replace(self, images=self.images[index], labels=self.labels[index])

    def to(self, device: torch.device | str) -> TensorSplit:
        """The split moved to ``device`` (kept as is when already there)."""
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Float32 normalized images from a batch of this split's images (any device)."""
        if x.dtype != torch.uint8:
            return x.float()
        y = x.float().div_(255.0)
        if self.mean:
            m = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
            s = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
            y = y.sub_(m).div_(s)
        return y


@dataclass
class Splits:
    """train / validation (held out from train, or an NB201 split) / test, plus what a model
    needs to know."""

    name: str
    train: TensorSplit
    val: TensorSplit
    test: TensorSplit
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.images.shape[1:]
        return int(c), int(h), int(w)

    def to(self, device: torch.device | str) -> Splits:
        """All three splits moved to ``device`` (GPU-resident data)."""
        return replace(
            self, train=self.train.to(device), val=self.val.to(device), test=self.test.to(device)
        )
