"""Training throughput: archlab's trainer vs a plain PyTorch reference loop.

Same model (NAS-Bench-201 network, same initial weights), same data (uint8 32x32 images,
CIFAR-shaped), same recipe (SGD Nesterov 0.9, wd 5e-4, random crop pad 4 + flip,
normalization), same batch size and threads. The reference is the textbook loop: a
``Dataset`` applying the standard per-image transforms (pad + random crop, flip, to float,
normalize — what torchvision's transforms do), a ``DataLoader(shuffle=True)``, and
``zero_grad/forward/backward/step``. Both figures are training images per second of the
training steps only (validation excluded). Runs alternate (ours, reference, ours, ...) so a
busy machine penalizes both alike; the median of ``--repeats`` is reported.

    .venv/bin/python bench/bench_train.py --images 512 --channels 16 --cells 5 --repeats 3
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from nas.data.base import Splits, TensorSplit
from nas.data.cifar import CIFAR_MEAN, CIFAR_STD
from nas.models.nb201 import NB201Network
from nas.train.loop import train
from nas.train.recipe import Recipe
from nas.train.runtime import Runtime, cpu_count

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


class _ReferenceDataset(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """Per-image standard transforms: RandomCrop(32, padding=4), RandomHorizontalFlip,
    ToTensor, Normalize."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels
        self.mean = torch.tensor(CIFAR_MEAN).view(3, 1, 1)
        self.std = torch.tensor(CIFAR_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self.images[i]
        h, w = x.shape[1:]
        xp = F.pad(x, (4, 4, 4, 4))
        dy, dx = (int(v) for v in torch.randint(0, 9, (2,)))
        x = xp[:, dy : dy + h, dx : dx + w]
        if torch.rand(()) < 0.5:
            x = x.flip(2)
        x = x.float() / 255.0
        return (x - self.mean) / self.std, int(self.labels[i])


def reference_images_per_s(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epochs: int, bs: int
) -> float:
    loader = torch.utils.data.DataLoader(
        _ReferenceDataset(images, labels), batch_size=bs, shuffle=True
    )
    opt = torch.optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    model.train()
    seen, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            seen += len(y)
    return seen / (time.perf_counter() - t0)


def archlab_images_per_s(
    model: nn.Module, data: Splits, epochs: int, bs: int, runtime: Runtime
) -> float:
    out = train(
        model, data, Recipe(epochs=epochs, batch_size=bs, divergence_epochs=0), 0, runtime=runtime
    )
    assert out.state.value == "COMPLETE", out.error
    return out.images_per_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=512, help="training images (32x32)")
    ap.add_argument("--channels", type=int, default=16, help="NB201 C")
    ap.add_argument("--cells", type=int, default=5, help="NB201 N")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=1, help="epochs per measurement")
    ap.add_argument("--repeats", type=int, default=3, help="alternating measurements each")
    ap.add_argument("--threads", type=int, default=0, help="0 = all CPUs of the process")
    ap.add_argument("--channels-last", default="auto", choices=("auto", "on", "off"))
    args = ap.parse_args()

    threads = args.threads or cpu_count()
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (args.images,), generator=g)
    split = TensorSplit(images, labels, CIFAR_MEAN, CIFAR_STD)
    small = split.subset(torch.arange(min(64, args.images)))
    data = Splits("bench", split, small, small, 10)
    torch.manual_seed(0)
    init = NB201Network(ARCH, args.channels, args.cells, 10)
    runtime = Runtime(device="cpu", threads=threads, channels_last=args.channels_last)
    # warm-up (allocator, oneDNN kernels) on both paths
    archlab_images_per_s(copy.deepcopy(init), data, 1, args.batch_size, runtime)
    reference_images_per_s(copy.deepcopy(init), images, labels, 1, args.batch_size)
    ours, ref = [], []
    for _ in range(args.repeats):
        ours.append(
            archlab_images_per_s(copy.deepcopy(init), data, args.epochs, args.batch_size, runtime)
        )
        ref.append(
            reference_images_per_s(
                copy.deepcopy(init), images, labels, args.epochs, args.batch_size
            )
        )
    o, r = statistics.median(ours), statistics.median(ref)
    print(
        f"NB201 C={args.channels} N={args.cells}, {args.images} images 32x32, batch "
        f"{args.batch_size}, {args.epochs} epoch(s) x {args.repeats}, {threads} threads, CPU"
    )
    print(f"archlab trainer : {o:8.1f} images/s  (runs: {', '.join(f'{v:.1f}' for v in ours)})")
    print(f"reference loop  : {r:8.1f} images/s  (runs: {', '.join(f'{v:.1f}' for v in ref)})")
    print(f"ratio           : {o / r:8.2f}")


if __name__ == "__main__":
    main()
