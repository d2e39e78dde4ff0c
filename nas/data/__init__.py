"""Datasets read from disk in their official formats, plus the embedded demo set.

``load_dataset(name, data_dir, ...)`` is the one entry point; ``DATASETS`` lists the names::

    >>> from nas.data import load_dataset
    >>> d = load_dataset("demo", val_fraction=0.2, seed=0)
    >>> d.num_classes, d.input_shape
    (10, (3, 16, 16))
"""

from __future__ import annotations

from nas.data.base import DatasetNotFoundError, Splits, TensorSplit
from nas.data.demo import load_demo

__all__ = [
    "DATASETS",
    "DatasetNotFoundError",
    "Splits",
    "TensorSplit",
    "canonical_dataset",
    "load_dataset",
    "load_demo",
]

# canonical name -> accepted spellings (lower case)
DATASETS: dict[str, tuple[str, ...]] = {
    "demo": ("demo", "digits"),
    "cifar10": ("cifar10", "cifar-10"),
    "cifar100": ("cifar100", "cifar-100"),
    "imagenet16": ("imagenet16", "imagenet16-120", "imagenet-16-120", "imagenet16_120"),
    "imagefolder": ("imagefolder", "image-folder", "folder"),
    "fashion-mnist": ("fashion-mnist", "fashion_mnist", "fashionmnist", "fmnist"),
}


def canonical_dataset(name: str) -> str:
    """The canonical data set name of ``name`` (case-insensitive; aliases accepted)."""
    low = name.strip().lower()
    for canon, spellings in DATASETS.items():
        if low in spellings:
            return canon
    raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")


def load_dataset(
    name: str,
    data_dir: str = "",
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    split_file: str = "",
    image_size: int = 0,
) -> Splits:
    """Load a data set by name (``demo`` needs no ``data_dir``; ``fashion-mnist`` defaults to
    the Debian package's ``/usr/share/datasets/fashion-mnist``).

    ``seed`` draws the validation split (a stratified ``val_fraction`` of the training set)
    unless ``split_file`` (NB201 format, see :mod:`nas.data.splits`) fixes it. ``image_size``
    resizes every image to a square side (0 = native). A missing data set raises
    :class:`DatasetNotFoundError` naming the paths searched and how to get the data.
    """
    canon = canonical_dataset(name)
    if canon == "demo":
        if split_file:
            raise ValueError("the demo data set takes no split file")
        return load_demo(val_fraction, seed=seed, image_size=image_size)
    if canon == "cifar10":
        from nas.data.cifar import load_cifar10 as loader
    elif canon == "cifar100":
        from nas.data.cifar import load_cifar100 as loader
    elif canon == "imagenet16":
        from nas.data.imagenet16 import load_imagenet16 as loader
    elif canon == "fashion-mnist":  # data_dir "" = the Debian package's folder
        from nas.data.fashion_mnist import load_fashion_mnist as loader
    else:
        from nas.data.imagefolder import load_imagefolder as loader
    return loader(data_dir, val_fraction, seed=seed, split_file=split_file, image_size=image_size)
