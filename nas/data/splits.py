"""Validation splits: a seeded, stratified split of the training set, or an NB201 split file.

Accepted split files (``.json`` or ``.txt``):

* JSON, the NAS-Bench-201 layout (``cifar-split.txt``, ``cifar100-test-split.txt``,
  ``imagenet-16-120-test-split.txt``) or a plain one. Each value is a list of indices or
  NB201's typed form ``["int", [indices]]``:

  - ``{"train": [...], "valid": [...]}`` — indices into the **training** set: train on
    ``train[train]``, validate on ``train[valid]``, test on the whole test set
    (NB201's CIFAR-10 "valid" protocol: 25k/25k);
  - ``{"xvalid": [...], "xtest": [...]}`` — indices into the **test** set: train on the whole
    training set, validate on ``test[xvalid]``, test on ``test[xtest]`` (NB201's CIFAR-100 and
    ImageNet16-120 protocol: the test set halved).

* Plain text: lines ``train: 0 1 2 ...`` and ``valid: 5 6 ...`` (or ``xvalid:``/``xtest:``),
  numbers separated by spaces or commas; ``#`` starts a comment.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nas.data.base import Splits, TensorSplit

__all__ = [
    "SplitFile",
    "assemble_splits",
    "read_split_file",
    "resize_uint8",
    "stratified_split",
]


def stratified_split(
    labels: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices ``(keep, held_out)`` with ``fraction`` of each class held out."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction={fraction} must be in [0, 1)")
    keep, held = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n = round(len(idx) * fraction)
        held.append(idx[:n])
        keep.append(idx[n:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


@dataclass(frozen=True)
class SplitFile:
    """Index lists read from a split file; ``on`` says which set they index."""

    on: str  # "train" (train/valid indices into the training set) | "test" (xvalid/xtest)
    first: np.ndarray  # train indices (on="train") or xvalid indices (on="test")
    second: np.ndarray  # valid indices (on="train") or xtest indices (on="test")


def _ints(value: Any, key: str, path: Path) -> np.ndarray:
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], list)
    ):
        value = value[1]  # NB201's ["int", [...]]
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
        raise ValueError(f"split file {path}: {key!r} must be a list of integer indices")
    return np.asarray(value, dtype=np.int64)


def _parse_text(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, rest = line.partition(":")
        if not sep:
            raise ValueError(f"line {line[:40]!r} is not 'key: indices'")
        out.setdefault(key.strip(), []).extend(int(t) for t in re.split(r"[\s,]+", rest) if t)
    return out


def read_split_file(path: str | Path) -> SplitFile:
    """Read a split file (see the module docstring for the accepted layouts)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"split file {p} does not exist; NAS-Bench-201 ships cifar-split.txt and "
            "*-test-split.txt in its configs/nas-benchmark/ folder, or write a JSON "
            '{"train": [...], "valid": [...]}'
        )
    text = p.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = _parse_text(text)
        except ValueError as e:
            raise ValueError(
                f"split file {p} is neither JSON nor 'key: indices' lines: {e}"
            ) from None
    if not isinstance(data, dict):
        raise ValueError(f"split file {p} must hold an object with train/valid or xvalid/xtest")
    if "train" in data and "valid" in data:
        return SplitFile(
            "train", _ints(data["train"], "train", p), _ints(data["valid"], "valid", p)
        )
    if "xvalid" in data and "xtest" in data:
        return SplitFile(
            "test", _ints(data["xvalid"], "xvalid", p), _ints(data["xtest"], "xtest", p)
        )
    raise ValueError(
        f"split file {p} has keys {sorted(data)}; expected 'train' and 'valid' (indices into the "
        "training set) or 'xvalid' and 'xtest' (indices into the test set)"
    )


def resize_uint8(x: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """``uint8 (N, C, H, W)`` resized to ``(N, C, size, size)`` (bilinear, antialiased)."""
    if size <= 0 or (x.shape[-2] == size and x.shape[-1] == size):
        return x
    out = torch.empty((x.shape[0], x.shape[1], size, size), dtype=torch.uint8)
    for i in range(0, x.shape[0], chunk):
        y = F.interpolate(
            x[i : i + chunk].float(), size=(size, size), mode="bilinear", antialias=True
        )
        out[i : i + chunk] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


def assemble_splits(
    name: str,
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    num_classes: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    *,
    val_fraction: float,
    seed: int,
    split_file: str = "",
    image_size: int = 0,
) -> Splits:
    """Splits from uint8 ``(N, C, H, W)`` arrays and int labels: validation is a seeded,
    stratified ``val_fraction`` of train, or what ``split_file`` says."""
    tx = resize_uint8(torch.from_numpy(np.ascontiguousarray(train_x, dtype=np.uint8)), image_size)
    ex = resize_uint8(torch.from_numpy(np.ascontiguousarray(test_x, dtype=np.uint8)), image_size)
    ty = torch.from_numpy(np.asarray(train_y, dtype=np.int64))
    ey = torch.from_numpy(np.asarray(test_y, dtype=np.int64))
    full_train = TensorSplit(tx, ty, mean, std)
    full_test = TensorSplit(ex, ey, mean, std)
    if split_file:
        sf = read_split_file(split_file)
        base = full_train if sf.on == "train" else full_test
        n = len(base)
        for arr, what in ((sf.first, "first"), (sf.second, "second")):
            if arr.size and (arr.min() < 0 or arr.max() >= n):
                raise ValueError(
                    f"split file {split_file}: an index of its {what} list is outside "
                    f"[0, {n}) — the {sf.on} set of {name} here has {n} images; is it the "
                    "split file of another data set, or a data-fraction copy?"
                )
        a, b = torch.from_numpy(sf.first), torch.from_numpy(sf.second)
        if sf.on == "train":
            return Splits(name, base.subset(a), base.subset(b), full_test, num_classes)
        return Splits(name, full_train, base.subset(a), base.subset(b), num_classes)
    keep, held = stratified_split(np.asarray(train_y), val_fraction, np.random.default_rng(seed))
    return Splits(
        name,
        full_train.subset(torch.from_numpy(keep)),
        full_train.subset(torch.from_numpy(held)),
        full_test,
        num_classes,
    )
