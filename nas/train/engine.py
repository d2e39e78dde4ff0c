"""Optimizer engines: the plain torch one and an optional DeepSpeed one.

An engine owns the model's forward call, the optimizer step and their state; the training
loop (``nas.train.loop``) is the same for both. DeepSpeed trains one candidate across the
GPUs of its allocation (one process per GPU, launched by ``srun``/``torchrun``; each rank
takes its share of every global batch); ZeRO stage and precision come from the
:class:`~nas.train.runtime.Runtime`.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import torch
from torch import nn

from nas.train.recipe import Recipe
from nas.train.runtime import Runtime

__all__ = ["DeepSpeedEngine", "Engine", "TorchEngine", "make_engine"]


def _sgd(model: nn.Module, recipe: Recipe) -> torch.optim.SGD:
    return torch.optim.SGD(
        model.parameters(),
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov and recipe.momentum > 0,
        weight_decay=recipe.weight_decay,
    )


class Engine:
    """What the loop needs: ``forward``, ``step``, ``set_lr``, state, rank and world size."""

    rank: int = 0
    world: int = 1
    input_dtype: torch.dtype | None = None  # cast inputs to this dtype (bf16 weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def step(self, loss: torch.Tensor) -> None:
        raise NotImplementedError

    def set_lr(self, lr: float) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    @property
    def module(self) -> nn.Module:
        """The module to evaluate."""
        raise NotImplementedError


class TorchEngine(Engine):
    """SGD on one device, optionally through ``torch.compile``."""

    def __init__(self, model: nn.Module, recipe: Recipe, compile: bool = False) -> None:
        self.model = model
        self.opt = _sgd(model, recipe)
        self._fwd: Any = torch.compile(model) if compile else model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self._fwd(x)
        return out

    def step(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        self.opt.step()

    def set_lr(self, lr: float) -> None:
        for g in self.opt.param_groups:
            g["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])

    @property
    def module(self) -> nn.Module:
        return self.model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DeepSpeedEngine(Engine):
    """DeepSpeed (``pip install 'archlab[deepspeed]'``): ZeRO 0/1/2, bf16 or fp32.

    Outside a launcher (no ``RANK``/``WORLD_SIZE`` in the environment) it runs as a single
    process (rank 0 of 1) with the gloo backend on CPU or nccl on CUDA.
    """

    def __init__(self, model: nn.Module, recipe: Recipe, runtime: Runtime, device: Any) -> None:
        try:
            import deepspeed
        except ImportError as e:
            raise ImportError(
                "runtime engine='deepspeed' needs DeepSpeed: pip install 'archlab[deepspeed]' "
                "(on a machine without CUDA: DS_BUILD_OPS=0 pip install deepspeed)"
            ) from e
        os.environ.setdefault("RANK", "0")
        os.environ.setdefault("LOCAL_RANK", "0")
        os.environ.setdefault("WORLD_SIZE", "1")
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
        if not torch.distributed.is_initialized():
            deepspeed.init_distributed(
                dist_backend="nccl" if device.type == "cuda" else "gloo", verbose=False
            )
        self.rank = torch.distributed.get_rank()
        self.world = torch.distributed.get_world_size()
        bf16 = runtime.ds_precision == "bf16" or (
            runtime.ds_precision == "auto" and device.type == "cuda"
        )
        micro = max(1, recipe.batch_size // self.world)
        config = {
            "train_batch_size": micro * self.world,
            "train_micro_batch_size_per_gpu": micro,
            "gradient_accumulation_steps": 1,
            "zero_allow_untested_optimizer": True,
            "zero_optimization": {"stage": runtime.zero_stage},
            "bf16": {"enabled": bf16},
            "steps_per_print": 1 << 30,
            "wall_clock_breakdown": False,
        }
        self.engine, self.opt, _, _ = deepspeed.initialize(
            model=model, optimizer=_sgd(model, recipe), config=config
        )
        self.input_dtype = torch.bfloat16 if bf16 else None
        self.zero_stage = runtime.zero_stage

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.engine(x)
        return out

    def step(self, loss: torch.Tensor) -> None:
        self.engine.backward(loss)
        self.engine.step()

    def set_lr(self, lr: float) -> None:
        for g in self.opt.param_groups:
            g["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.engine.module.state_dict(), "optimizer": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.engine.module.load_state_dict(state["model"])
        if self.zero_stage == 0:
            self.opt.load_state_dict(state["optimizer"])
        elif self.world == 1:  # ZeRO optimizers take one state per rank
            self.opt.load_state_dict([state["optimizer"]], load_from_fp32_weights=True)
        # world > 1 with ZeRO >= 1: only rank 0's partition is saved, so the momentum
        # buffers restart on resume (model weights, schedule and RNG are restored)

    @property
    def module(self) -> nn.Module:
        m: nn.Module = self.engine.module
        return m


def make_engine(model: nn.Module, recipe: Recipe, runtime: Runtime, device: Any) -> Engine:
    """The engine named by ``runtime.engine`` around ``model`` (already on ``device``)."""
    if runtime.engine == "deepspeed":
        return DeepSpeedEngine(model, recipe, runtime, device)
    return TorchEngine(model, recipe, compile=runtime.compile)
