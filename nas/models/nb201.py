"""The NAS-Bench-201 network, built directly from an arch string (torch).

stem Conv3x3+BN -> [N cells(C)] -> ResBlock(C->2C, /2) -> [N cells(2C)] -> ResBlock(2C->4C, /2)
-> [N cells(4C)] -> BN-ReLU -> global average pool -> Linear.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.spaces.nb201 import parse_arch

__all__ = ["NB201Network"]


class _ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, k: int, stride: int) -> None:
        super().__init__(
            nn.ReLU(), nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), nn.BatchNorm2d(c_out)
        )


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def _op(name: str, c: int) -> nn.Module:
    if name == "none":
        return _Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return _ReLUConvBN(c, c, 1, 1)
    if name == "nor_conv_3x3":
        return _ReLUConvBN(c, c, 3, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    raise ValueError(name)


class _Cell(nn.Module):
    def __init__(self, arch: str, c: int) -> None:
        super().__init__()
        self.nodes = parse_arch(arch)
        self.edges = nn.ModuleList(_op(op, c) for node in self.nodes for op, _ in node)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [x]
        k = 0
        for node in self.nodes:
            acc = None
            for _, src in node:
                y = self.edges[k](states[src])
                acc = y if acc is None else acc + y
                k += 1
            states.append(acc)  # type: ignore[arg-type]
        return states[-1]


class _ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = _ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = _ReLUConvBN(c_out, c_out, 3, 1)
        self.down = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.down(x) + self.conv_b(self.conv_a(x))
        return out


class NB201Network(nn.Module):
    def __init__(
        self,
        arch: str,
        channels: int = 16,
        cells: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
    ):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels),
        ]
        c = channels
        for stage in range(3):
            if stage > 0:
                layers.append(_ResBlock(c, 2 * c))
                c *= 2
            layers.extend(_Cell(arch, c) for _ in range(cells))
        layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.features(x))
        return out
