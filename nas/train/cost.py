"""What a built model costs to run: trainable parameters and multiply-adds per image.

MACs count convolutions and linear layers (the NAS-Bench-201 convention); FLOPs are
2 x MACs. Counted by forward hooks on one image, so any module tree works.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["count_macs", "count_params"]


def count_params(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def count_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-adds of Conv2d and Linear layers for one ``(C, H, W)`` image (runs a forward
    pass in eval mode on the model's device; raises what the forward raises)."""
    total = [0]

    def conv_hook(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        assert isinstance(m, nn.Conv2d)
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total[0] += int(out.numel() // out.shape[0]) * k

    def linear_hook(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        assert isinstance(m, nn.Linear)
        total[0] += int(out.numel() // out.shape[0]) * m.in_features

    handles = []
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            handles.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            handles.append(mod.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        dev = next(model.parameters(), torch.empty(0)).device
        model(torch.zeros((1, *input_shape), device=dev))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total[0]
