"""CIFAR-10 and CIFAR-100 from the official python pickles (the torchvision layout).

On disk (as extracted from ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz``)::

    DATA_DIR/cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch, batches.meta
    DATA_DIR/cifar-100-python/train, test, meta

``DATA_DIR`` may also be the ``cifar-10-batches-py`` / ``cifar-100-python`` folder itself.
Each pickle holds ``data`` (N, 3072) uint8, channel-major (R plane, G plane, B plane of 32x32)
and ``labels`` (CIFAR-10) or ``fine_labels`` (CIFAR-100, 100 classes).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from nas.data.base import DatasetNotFoundError, Splits
from nas.data.splits import assemble_splits

__all__ = ["CIFAR_MEAN", "CIFAR_STD", "find_data_folder", "load_cifar10", "load_cifar100"]

# NAS-Bench-201's normalization for CIFAR-10 and CIFAR-100 (pixel units in [0, 1]).
CIFAR_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)

_URL10 = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_URL100 = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"


def read_pickle(path: Path) -> dict[str, Any]:
    """A CIFAR/ImageNet16 pickle (Python 2 or 3) as a dict with ``str`` keys."""
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="latin1")
    return {(k.decode() if isinstance(k, bytes) else str(k)): v for k, v in d.items()}


def find_data_folder(
    data_dir: str, folder: str, required: tuple[str, ...], what: str, how: str
) -> Path:
    """``data_dir/folder`` or ``data_dir`` itself, whichever holds every ``required`` file;
    otherwise a :class:`DatasetNotFoundError` naming both paths and how to get the data."""
    if not data_dir:
        raise DatasetNotFoundError(
            f"{what} needs --data-dir (train.data_dir): the folder holding {folder}/. {how}"
        )
    root = Path(data_dir).expanduser()
    candidates = [root / folder, root]
    for c in candidates:
        if all((c / r).is_file() for r in required):
            return c
    missing = [r for r in required if not (candidates[0] / r).is_file()]
    raise DatasetNotFoundError(
        f"{what} not found: looked for {', '.join(required)} in "
        f"{' and '.join(str(c) for c in candidates)} (missing in {candidates[0]}: "
        f"{', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}). {how}"
    )


def _stack(batches: list[dict[str, Any]], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([np.asarray(b["data"], dtype=np.uint8) for b in batches])
    y = np.concatenate([np.asarray(b[label_key], dtype=np.int64) for b in batches])
    return x.reshape(-1, 3, 32, 32), y


def load_cifar10(
    data_dir: str,
    val_fraction: float = 0.2,
    seed: int = 0,
    split_file: str = "",
    image_size: int = 0,
) -> Splits:
    """CIFAR-10: 50,000 train / 10,000 test images, 10 classes, 32x32."""
    names = [f"data_batch_{i}" for i in range(1, 6)]
    folder = find_data_folder(
        data_dir,
        "cifar-10-batches-py",
        (*names, "test_batch"),
        "CIFAR-10",
        f"Download {_URL10} and extract it into the data directory.",
    )
    tx, ty = _stack([read_pickle(folder / n) for n in names], "labels")
    ex, ey = _stack([read_pickle(folder / "test_batch")], "labels")
    return assemble_splits(
        "cifar10", tx, ty, ex, ey, 10, CIFAR_MEAN, CIFAR_STD,
        val_fraction=val_fraction, seed=seed, split_file=split_file, image_size=image_size,
    )  # fmt: skip


def load_cifar100(
    data_dir: str,
    val_fraction: float = 0.2,
    seed: int = 0,
    split_file: str = "",
    image_size: int = 0,
) -> Splits:
    """CIFAR-100: 50,000 train / 10,000 test images, 100 fine classes, 32x32."""
    folder = find_data_folder(
        data_dir,
        "cifar-100-python",
        ("train", "test"),
        "CIFAR-100",
        f"Download {_URL100} and extract it into the data directory.",
    )
    tx, ty = _stack([read_pickle(folder / "train")], "fine_labels")
    ex, ey = _stack([read_pickle(folder / "test")], "fine_labels")
    return assemble_splits(
        "cifar100", tx, ty, ex, ey, 100, CIFAR_MEAN, CIFAR_STD,
        val_fraction=val_fraction, seed=seed, split_file=split_file, image_size=image_size,
    )  # fmt: skip
