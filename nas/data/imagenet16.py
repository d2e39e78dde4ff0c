"""ImageNet16-120: the 16x16 downsampled ImageNet pickles, first 120 classes (NAS-Bench-201).

On disk (``Imagenet16_train.zip`` / ``Imagenet16_val.zip`` from the downsampled-ImageNet page,
extracted into one folder)::

    DATA_DIR/ImageNet16/train_data_batch_1 .. train_data_batch_10, val_data

``DATA_DIR`` may also be the ``ImageNet16`` folder itself. Each pickle holds ``data``
(N, 3072) uint8, channel-major 16x16, and ``labels``, 1-based over 1,000 classes; images with
labels 1..120 are kept (151,700 train / 6,000 val), labels shifted to 0..119. The ``val_data``
file is the test set, as in NAS-Bench-201.
"""

from __future__ import annotations

import numpy as np

from nas.data.base import Splits
from nas.data.cifar import find_data_folder, read_pickle
from nas.data.splits import assemble_splits

__all__ = ["IMAGENET16_MEAN", "IMAGENET16_STD", "load_imagenet16"]

IMAGENET16_MEAN = (122.68 / 255, 116.66 / 255, 104.01 / 255)
IMAGENET16_STD = (63.22 / 255, 61.26 / 255, 65.09 / 255)
_HOW = (
    "Download Imagenet16_train.zip and Imagenet16_val.zip (the 16x16 'Downsampled ImageNet' "
    "of https://image-net.org/download-images, or the NAS-Bench-201 README's link) and "
    "extract both into DATA_DIR/ImageNet16/."
)


def _read(paths: list, classes: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    xs, ys = [], []
    for p in paths:
        d = read_pickle(p)
        y = np.asarray(d["labels"], dtype=np.int64)
        keep = (y >= 1) & (y <= classes)
        xs.append(np.asarray(d["data"], dtype=np.uint8)[keep])
        ys.append(y[keep] - 1)
    return np.concatenate(xs).reshape(-1, 3, 16, 16), np.concatenate(ys)


def load_imagenet16(
    data_dir: str,
    val_fraction: float = 0.2,
    seed: int = 0,
    split_file: str = "",
    image_size: int = 0,
    classes: int = 120,
) -> Splits:
    """ImageNet16-``classes`` (default 120) train and val pickles as Splits."""
    names = [f"train_data_batch_{i}" for i in range(1, 11)]
    folder = find_data_folder(
        data_dir, "ImageNet16", (*names, "val_data"), f"ImageNet16-{classes}", _HOW
    )
    tx, ty = _read([folder / n for n in names], classes)
    ex, ey = _read([folder / "val_data"], classes)
    return assemble_splits(
        f"imagenet16-{classes}", tx, ty, ex, ey, classes, IMAGENET16_MEAN, IMAGENET16_STD,
        val_fraction=val_fraction, seed=seed, split_file=split_file, image_size=image_size,
    )  # fmt: skip
