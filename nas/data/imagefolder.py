"""A generic image folder (read with PIL): one sub-folder per class.

On disk::

    DATA_DIR/train/<class>/*.png|jpg|jpeg|bmp|webp
    DATA_DIR/test/<class>/...        (or DATA_DIR/val/<class>/..., the ImageNet layout)

Classes are the sorted sub-folder names of ``train/``; a test class folder unknown to
``train/`` is an error. Images are converted to RGB and resized to ``image_size`` (0 = the
size of the first training image). Normalization is the per-channel mean/std of the
training images. Validation is a seeded split of ``train/`` (or a split file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nas.data.base import DatasetNotFoundError, Splits
from nas.data.splits import assemble_splits

__all__ = ["IMAGE_SUFFIXES", "load_imagefolder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
_HOW = (
    "Lay the images out as DATA_DIR/train/<class>/*.png and DATA_DIR/test/<class>/*.png "
    "(or val/ instead of test/)."
)


def _read_tree(
    root: Path, classes: list[str], size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    index = {c: i for i, c in enumerate(classes)}
    xs: list[np.ndarray] = []
    ys: list[int] = []
    for cdir in sorted(p for p in root.iterdir() if p.is_dir()):
        if cdir.name not in index:
            raise ValueError(
                f"class folder {cdir} is not among the training classes "
                f"({', '.join(classes[:8])}{' ...' if len(classes) > 8 else ''})"
            )
        for f in sorted(cdir.iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            with Image.open(f) as im:
                rgb = im.convert("RGB")
            if rgb.size != size:
                rgb = rgb.resize(size, Image.Resampling.BILINEAR)
            xs.append(np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1))
            ys.append(index[cdir.name])
    if not xs:
        raise DatasetNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}. {_HOW}")
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def _first_image(root: Path) -> Path:
    for f in sorted(root.rglob("*")):
        if f.suffix.lower() in IMAGE_SUFFIXES:
            return f
    raise DatasetNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}. {_HOW}")


def load_imagefolder(
    data_dir: str,
    val_fraction: float = 0.2,
    seed: int = 0,
    split_file: str = "",
    image_size: int = 0,
) -> Splits:
    """An image-folder data set as Splits (uint8 in memory)."""
    from PIL import Image

    if not data_dir:
        raise DatasetNotFoundError(f"imagefolder needs --data-dir (train.data_dir). {_HOW}")
    root = Path(data_dir).expanduser()
    train_dir = root / "train"
    test_dir = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        raise DatasetNotFoundError(
            f"image folder not found: looked for {train_dir} and {root / 'test'} "
            f"(or {root / 'val'}). {_HOW}"
        )
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise DatasetNotFoundError(
            f"{train_dir} has {len(classes)} class folder(s); a classifier needs >= 2. {_HOW}"
        )
    if image_size > 0:
        size = (image_size, image_size)
    else:
        with Image.open(_first_image(train_dir)) as im:
            size = im.size
    tx, ty = _read_tree(train_dir, classes, size)
    ex, ey = _read_tree(test_dir, classes, size)
    pix = tx.astype(np.float64) / 255.0
    mean = tuple(float(v) for v in pix.mean(axis=(0, 2, 3)))
    std = tuple(max(float(v), 1e-3) for v in pix.std(axis=(0, 2, 3)))
    return assemble_splits(
        "imagefolder", tx, ty, ex, ey, len(classes), mean, std,
        val_fraction=val_fraction, seed=seed, split_file=split_file, image_size=0,
    )  # fmt: skip
