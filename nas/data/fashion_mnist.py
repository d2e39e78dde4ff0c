"""Fashion-MNIST from its official IDX files (Zalando's layout, also the Debian package's).

On disk (the Debian package ``dataset-fashion-mnist`` installs them in
``/usr/share/datasets/fashion-mnist/``, the default when ``train.data_dir`` is empty)::

    DATA_DIR/train-images-idx3-ubyte.gz   train-labels-idx1-ubyte.gz
    DATA_DIR/t10k-images-idx3-ubyte.gz    t10k-labels-idx1-ubyte.gz

The files may also be uncompressed (no ``.gz``), and ``DATA_DIR/fashion-mnist/`` works too.
An IDX file is a big-endian header — two zero bytes, the element type (``0x08`` = unsigned
byte), the number of dimensions, one ``uint32`` size per dimension — then the elements in
row-major order. 60,000 train / 10,000 test grey 28x28 images, 10 classes.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from nas.data.base import DatasetNotFoundError, Splits
from nas.data.splits import assemble_splits

__all__ = [
    "DEFAULT_DIR",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "find_files",
    "load_fashion_mnist",
    "read_idx",
]

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
# Per-channel statistics of the 60,000 training images (pixel units in [0, 1]).
FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)
_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
_HOW = (
    "Install the Debian package (`apt-get install dataset-fashion-mnist`, files in "
    f"{DEFAULT_DIR}) or set train.data_dir to a folder holding the four IDX files."
)


def read_idx(path: str | Path) -> np.ndarray:
    """The unsigned-byte array of an IDX file (gzip-compressed or not); a wrong header or a
    size that does not match the header raises ``ValueError`` naming the file."""
    p = Path(path)
    with open(p, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[0:2] != b"\x00\x00":
        raise ValueError(f"{p} is not an IDX file (no 0x0000 magic)")
    kind, ndim = data[2], data[3]
    if kind != 0x08:
        raise ValueError(f"{p}: IDX element type 0x{kind:02x} is not unsigned byte (0x08)")
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:header])
    body = np.frombuffer(data, dtype=np.uint8, offset=header)
    if body.size != int(np.prod(shape)):
        raise ValueError(
            f"{p}: the header says {shape} ({int(np.prod(shape))} bytes) but holds {body.size}"
        )
    return body.reshape(shape).copy()  # writable (torch.from_numpy warns on read-only buffers)


def find_files(data_dir: str) -> dict[str, Path]:
    """The four IDX files in ``data_dir`` (or its ``fashion-mnist/``; empty = the Debian
    package's folder); :class:`DatasetNotFoundError` saying where it looked and how to fix."""
    root = Path(data_dir or DEFAULT_DIR).expanduser()
    folders = [root, root / "fashion-mnist"]
    for folder in folders:
        found: dict[str, Path] = {}
        for key, stem in _FILES.items():
            for name in (stem + ".gz", stem):
                if (folder / name).is_file():
                    found[key] = folder / name
                    break
        if len(found) == len(_FILES):
            return found
    source = "train.data_dir" if data_dir else "the default folder (train.data_dir is empty)"
    raise DatasetNotFoundError(
        f"Fashion-MNIST not found in {' or '.join(str(f) for f in folders)} ({source}): "
        f"looked for {', '.join(s + '[.gz]' for s in _FILES.values())}. {_HOW}"
    )


def load_fashion_mnist(
    data_dir: str = "",
    val_fraction: float = 0.2,
    seed: int = 0,
    split_file: str = "",
    image_size: int = 0,
) -> Splits:
    """Fashion-MNIST: 60,000 train / 10,000 test grey 28x28 images (``uint8 (N, 1, 28, 28)``),
    10 classes; validation is a seeded stratified share of the training set."""
    files = find_files(data_dir)
    arrays = {key: read_idx(path) for key, path in files.items()}
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"Fashion-MNIST {split}: {files[f'{split}_x']} holds {x.shape} images but "
                f"{files[f'{split}_y']} holds {y.shape} labels (expected (N, H, W) and (N,))"
            )
    tx, ex = arrays["train_x"], arrays["test_x"]
    return assemble_splits(
        "fashion-mnist",
        tx.reshape(tx.shape[0], 1, tx.shape[1], tx.shape[2]),
        arrays["train_y"].astype(np.int64),
        ex.reshape(ex.shape[0], 1, ex.shape[1], ex.shape[2]),
        arrays["test_y"].astype(np.int64),
        10,
        FASHION_MNIST_MEAN,
        FASHION_MNIST_STD,
        val_fraction=val_fraction,
        seed=seed,
        split_file=split_file,
        image_size=image_size,
    )
