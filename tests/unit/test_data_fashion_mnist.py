"""Fashion-MNIST: the IDX reader on files the test writes, and the Debian package's real files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.data import DatasetNotFoundError, canonical_dataset, load_dataset
from nas.data.fashion_mnist import DEFAULT_DIR, read_idx

pytestmark = pytest.mark.unit


def _write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def _write_set(
    folder: Path, n_train: int, n_test: int, compress: bool = True
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test, dtype=np.uint8) * 3) % 10,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, a in arrays.items():
        _write_idx(folder / (stem + (".gz" if compress else "")), a, compress)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_reads_idx_files_gzip_or_plain(tmp_path, compress):
    arrays = _write_set(tmp_path, 50, 12, compress)
    d = load_dataset("fashion-mnist", str(tmp_path), val_fraction=0.2, seed=0)
    assert d.name == "fashion-mnist" and d.num_classes == 10
    assert d.input_shape == (1, 28, 28)
    assert len(d.train) == 40 and len(d.val) == 10 and len(d.test) == 12
    assert sorted(d.val.labels.tolist()) == list(range(10))  # stratified: one per class
    assert d.train.is_raw and d.train.images.dtype == torch.uint8
    # row-major pixels: the test set comes back exactly as written
    assert torch.equal(d.test.images[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte"]))
    assert d.test.labels.tolist() == arrays["t10k-labels-idx1-ubyte"].astype(int).tolist()
    x = d.train.normalize(d.train.images[:3])
    assert x.dtype == torch.float32 and x.shape == (3, 1, 28, 28)


def test_aliases_resize_and_the_fashion_mnist_subfolder(tmp_path):
    _write_set(tmp_path / "fashion-mnist", 20, 5)
    assert canonical_dataset("FMNIST") == canonical_dataset("fashion_mnist") == "fashion-mnist"
    d = load_dataset("Fashion-MNIST", str(tmp_path), val_fraction=0.5, seed=1, image_size=14)
    assert d.input_shape == (1, 14, 14) and len(d.val) == 10


def test_missing_files_name_the_path_and_the_debian_package(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("fashion-mnist", str(tmp_path / "nowhere"))
    msg = str(e.value)
    assert str(tmp_path / "nowhere") in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "train.data_dir" in msg


def test_a_corrupt_or_short_idx_file_is_named(tmp_path):
    bad = tmp_path / "x.idx"
    bad.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short.idx"
    short.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"\x01\x02")
    with pytest.raises(ValueError, match=r"header says \(10,\)"):
        read_idx(short)


def test_mismatched_image_and_label_counts_are_an_error(tmp_path):
    _write_set(tmp_path, 20, 5)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(4, dtype=np.uint8), True)
    with pytest.raises(ValueError, match="t10k-labels"):
        load_dataset("fashion-mnist", str(tmp_path))


@pytest.mark.skipif(
    not Path(DEFAULT_DIR, "t10k-labels-idx1-ubyte.gz").is_file(),
    reason=f"the Debian package dataset-fashion-mnist is not installed ({DEFAULT_DIR} is empty); "
    "apt-get install dataset-fashion-mnist",
)
def test_the_debian_package_files_by_default():
    d = load_dataset("fashion-mnist", "", val_fraction=0.1, seed=0)  # "" = the package folder
    assert (len(d.train), len(d.val), len(d.test)) == (54_000, 6_000, 10_000)
    assert d.input_shape == (1, 28, 28) and d.num_classes == 10
    # balanced: 1,000 test images per class; the pixel statistics match the pinned mean/std
    assert torch.bincount(d.test.labels).tolist() == [1000] * 10
    pixels = d.train.images.float().div(255)
    assert abs(pixels.mean().item() - d.train.mean[0]) < 0.005
    assert abs(pixels.std().item() - d.train.std[0]) < 0.005
