"""Weight decay applied by the loop, identically for every optimizer.

Optimizers are built with ``weight_decay=0``; :class:`WeightDecay` adds it just
before ``optimizer.step()``: *coupled* adds ``wd * p`` to the gradient (L2, what
SGD's and Adam's own ``weight_decay`` do), *decoupled* shrinks ``p *= 1 - lr*wd``
(what AdamW does; SGDW for SGD). One ``wd`` knob thus means the same thing with
any optimizer, and norm/bias parameters can be excluded from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from training.optim import StepRule


@dataclass(frozen=True)
class WeightDecay:
    rate: float
    decoupled: bool
    on_norm_and_bias: bool

    def __post_init__(self) -> None:
        if not (
            isinstance(self.rate, (int, float)) and math.isfinite(self.rate) and self.rate >= 0
        ):
            raise ValueError(f"wd must be a finite number >= 0, got {self.rate!r}.")

    def param_groups(self, model: nn.Module) -> list[dict]:
        """Optimizer groups; ``decay`` marks the ones this decays (1-d tensors are norm scales and biases)."""
        decay: list[nn.Parameter] = []
        rest: list[nn.Parameter] = []
        for p in model.parameters():
            (decay if self.on_norm_and_bias or p.ndim > 1 else rest).append(p)
        return [
            g
            for g in ({"params": decay, "decay": True}, {"params": rest, "decay": False})
            if g["params"]
        ]

    @torch.no_grad()
    def apply(self, optimizer: StepRule, lr: float) -> None:
        if self.rate == 0:
            return
        for group in optimizer.param_groups:
            if not group.get("decay"):
                continue
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if self.decoupled:
                torch._foreach_mul_(params, 1.0 - lr * self.rate)
            else:
                torch._foreach_add_([p.grad for p in params], params, alpha=self.rate)
