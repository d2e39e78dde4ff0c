"""The embedded demo data set: scikit-learn's handwritten digits (real scans, shipped inside
the scikit-learn wheel, no download), upsampled to 16x16 and replicated to 3 channels.

1,797 images, 10 classes. Split (seeded, stratified): 20 % test; of the rest, ``val_fraction``
for validation. Chance accuracy is 10 %.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nas.data.base import Splits, TensorSplit
from nas.data.splits import stratified_split as _stratified_split

__all__ = ["load_demo"]


def load_demo(val_fraction: float = 0.2, seed: int = 0, image_size: int = 16) -> Splits:
    """The digits as float32 normalized ``(N, 3, image_size, image_size)`` splits
    (``image_size`` 0 = 16)."""
    image_size = image_size or 16
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N,1,8,8) in [0,1]
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = x.repeat(1, 3, 1, 1)
    x = (x - x.mean()) / x.std()
    y = np.asarray(digits.target, dtype=np.int64)
    rng = np.random.default_rng(seed)
    # the test split is fixed (seed 0) so every run reports on the same images
    trainval, test = _stratified_split(y, 0.2, np.random.default_rng(0))
    tr_rel, va_rel = _stratified_split(y[trainval], val_fraction, rng)
    train, val = trainval[tr_rel], trainval[va_rel]
    yt = torch.from_numpy(y)

    def split(idx: np.ndarray) -> TensorSplit:
        t = torch.from_numpy(idx)
        return TensorSplit(x[t].contiguous(), yt[t].contiguous())

    return Splits("demo", split(train), split(val), split(test), num_classes=10)
