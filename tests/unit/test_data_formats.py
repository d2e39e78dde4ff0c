"""The disk loaders read small files written in each data set's official format."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from nas.data import DatasetNotFoundError, canonical_dataset, load_dataset
from nas.data.splits import read_split_file

pytestmark = pytest.mark.unit


def _pickle(path, obj, py2_bytes_keys=False):
    if py2_bytes_keys:  # what the official (Python 2) CIFAR pickles unpickle to with 'bytes'
        obj = {k.encode(): v for k, v in obj.items()}
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _images(n, side, rng):
    return rng.integers(0, 256, size=(n, 3 * side * side), dtype=np.uint8)


@pytest.fixture
def cifar10_dir(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for i in range(1, 6):
        _pickle(
            d / f"data_batch_{i}",
            {"data": _images(10, 32, rng), "labels": [j % 10 for j in range(10)]},
            py2_bytes_keys=True,
        )
    _pickle(d / "test_batch", {"data": _images(7, 32, rng), "labels": list(range(7))})
    _pickle(d / "batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
    return tmp_path


def test_cifar10_reads_the_official_batches(cifar10_dir):
    d = load_dataset("cifar10", str(cifar10_dir), val_fraction=0.2, seed=0)
    assert d.num_classes == 10 and d.input_shape == (3, 32, 32)
    assert len(d.train) == 40 and len(d.val) == 10 and len(d.test) == 7
    assert d.train.images.dtype == torch.uint8 and d.train.is_raw
    assert sorted(d.val.labels.tolist()) == list(range(10))  # stratified: one per class
    assert d.test.labels.tolist() == list(range(7))
    # channel-major rows: pixel (c=1, 0, 0) is byte 1024 of the first test row
    raw = pickle.load(open(cifar10_dir / "cifar-10-batches-py" / "test_batch", "rb"))
    assert int(d.test.images[0, 1, 0, 0]) == int(raw["data"][0][1024])
    x = d.train.normalize(d.train.images[:4])
    assert x.dtype == torch.float32 and x.shape == (4, 3, 32, 32)
    # the folder itself works as data_dir too, and a different seed draws another split
    d2 = load_dataset("CIFAR-10", str(cifar10_dir / "cifar-10-batches-py"), seed=1)
    assert len(d2.val) == 10 and not torch.equal(d2.val.images, d.val.images)


def test_cifar100_reads_fine_labels(tmp_path):
    rng = np.random.default_rng(1)
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    _pickle(
        d / "train",
        {"data": _images(200, 32, rng), "fine_labels": [i % 100 for i in range(200)],
         "coarse_labels": [i % 20 for i in range(200)]},
        py2_bytes_keys=True,
    )  # fmt: skip
    _pickle(d / "test", {"data": _images(5, 32, rng), "fine_labels": [99, 1, 2, 3, 4]})
    _pickle(d / "meta", {"fine_label_names": [str(i) for i in range(100)]})
    s = load_dataset("cifar100", str(tmp_path), val_fraction=0.5, seed=0)
    assert s.num_classes == 100 and len(s.train) == 100 and len(s.val) == 100
    assert s.test.labels.tolist() == [99, 1, 2, 3, 4]


def test_imagenet16_keeps_the_first_120_classes_zero_based(tmp_path):
    rng = np.random.default_rng(2)
    d = tmp_path / "ImageNet16"
    d.mkdir()
    for i in range(1, 11):
        labels = [1, 60, 120, 121, 1000, 7]  # 1-based; 121 and 1000 are dropped
        _pickle(d / f"train_data_batch_{i}", {"data": _images(6, 16, rng), "labels": labels})
    _pickle(d / "val_data", {"data": _images(3, 16, rng), "labels": [120, 500, 1]})
    s = load_dataset("ImageNet16-120", str(tmp_path), val_fraction=0.0, seed=0)
    assert s.num_classes == 120 and s.input_shape == (3, 16, 16)
    assert len(s.train) == 40 and int(s.train.labels.max()) == 119
    assert int(s.train.labels.min()) == 0
    assert s.test.labels.tolist() == [119, 0]


def test_imagefolder_reads_pngs_with_pil(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    for split, n in (("train", 4), ("test", 2)):
        for cls in ("cat", "dog", "emu"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(n):
                arr = rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
                Image.fromarray(arr).save(tmp_path / split / cls / f"{i}.png")
    s = load_dataset("imagefolder", str(tmp_path), val_fraction=0.25, seed=0, image_size=8)
    assert s.num_classes == 3 and s.input_shape == (3, 8, 8)
    assert len(s.train) == 9 and len(s.val) == 3 and len(s.test) == 6
    assert len(s.train.mean) == 3 and all(v > 0 for v in s.train.std)
    native = load_dataset("imagefolder", str(tmp_path), val_fraction=0.25, seed=0)
    assert native.input_shape == (3, 12, 10)  # PIL size is (W, H) = (10, 12)


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("cifar10", "cifar-10-python.tar.gz"),
        ("cifar100", "cifar-100-python.tar.gz"),
        ("imagenet16", "Imagenet16_train.zip"),
        ("imagefolder", "train/<class>"),
    ],
)
def test_a_missing_dataset_names_the_paths_searched_and_how_to_get_it(tmp_path, name, needle):
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset(name, str(tmp_path / "nowhere"))
    assert str(tmp_path / "nowhere") in str(e.value) and needle in str(e.value)
    with pytest.raises(DatasetNotFoundError, match="data-dir"):
        load_dataset(name, "")


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match="cifar10, cifar100"):
        canonical_dataset("mnist")


def test_demo_needs_no_data_dir_and_resizes():
    s = load_dataset("demo", image_size=8)
    assert s.input_shape == (3, 8, 8) and s.num_classes == 10 and not s.train.is_raw


def test_nb201_split_files_train_valid_and_xvalid_xtest(cifar10_dir, tmp_path):
    nb201 = tmp_path / "cifar-split.txt"
    nb201.write_text(json.dumps({"train": ["int", list(range(0, 50, 2))],
                                 "valid": ["int", list(range(1, 50, 2))]}))  # fmt: skip
    s = load_dataset("cifar10", str(cifar10_dir), split_file=str(nb201))
    assert len(s.train) == 25 and len(s.val) == 25 and len(s.test) == 7
    test_split = tmp_path / "cifar10-test-split.txt"
    test_split.write_text(json.dumps({"xvalid": [0, 2, 4], "xtest": [1, 3, 5, 6]}))
    s = load_dataset("cifar10", str(cifar10_dir), split_file=str(test_split))
    assert len(s.train) == 50 and s.val.labels.tolist() == [0, 2, 4]
    assert s.test.labels.tolist() == [1, 3, 5, 6]


def test_plain_text_split_file_and_errors(cifar10_dir, tmp_path):
    txt = tmp_path / "split.txt"
    txt.write_text("# my split\ntrain: 0 1 2, 3\nvalid: 4 5\n")
    sf = read_split_file(txt)
    assert sf.on == "train" and sf.first.tolist() == [0, 1, 2, 3] and sf.second.tolist() == [4, 5]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train": [0], "valid": [999]}))
    with pytest.raises(ValueError, match="outside"):
        load_dataset("cifar10", str(cifar10_dir), split_file=str(bad))
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"a": [1]}))
    with pytest.raises(ValueError, match="expected 'train' and 'valid'"):
        read_split_file(keys)
    with pytest.raises(FileNotFoundError, match="cifar-split.txt"):
        read_split_file(tmp_path / "missing.txt")
