"""Smith & Topin's Hessian-free estimate of the optimal learning rate (super-convergence
paper, "Estimating optimal learning rates").

From Newton's step ``w - H^-1 g`` with the Hessian's diagonal approximated by a secant
between successive iterates, each weight's optimal lr is ``|w_i - w_(i-1)| / |g_i - g_(i-1)|``;
the estimate of a step is the mean of that over all weights (those whose gradient changed),
smoothed over steps by a debiased exponential moving average. Large values mean small
curvature along the path (wide, flat regions); the paper reports 2-6 for its ResNets during
one-cycle training. ``lr_estimate=true`` logs it per epoch in ``metrics.jsonl``. It costs a
copy of the weights and the gradient per step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from training.parts import RunPart, Step


class SecantLrEstimate(RunPart):
    """A part of every step: after ``backward`` it reads the gradient at the current weights
    (before the step); :meth:`value` is the smoothed estimate so far (None before two steps)."""

    def __init__(self, model: nn.Module, beta: float = 0.98) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.beta, self.avg, self.n = beta, 0.0, 0
        self.prev: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None
        self.last: float | None = None  # the latest step's own estimate

    @torch.no_grad()
    def observe(self) -> None:
        """The gradient now in ``.grad``, at the weights now in the model."""
        weights = [p.detach().clone() for p in self.params if p.grad is not None]
        grads = [p.grad.detach().clone() for p in self.params if p.grad is not None]
        if self.prev is not None and len(self.prev[0]) == len(weights):
            dw = torch.cat(
                [(w - pw).abs().flatten() for w, pw in zip(weights, self.prev[0], strict=True)]
            )
            dg = torch.cat(
                [(g - pg).abs().flatten() for g, pg in zip(grads, self.prev[1], strict=True)]
            )
            moved = dg > 1e-12
            if bool(moved.any()):
                estimate = float((dw[moved] / dg[moved]).mean())
                if math.isfinite(estimate):
                    self.last = estimate
                    self.n += 1
                    self.avg = self.beta * self.avg + (1 - self.beta) * estimate
        self.prev = (weights, grads)

    def after_backward(self, step: Step) -> None:
        self.observe()

    def epoch_values(self) -> dict[str, float | None]:
        return {"lr_estimate": self.value()}

    def state_dict(self) -> dict:
        return {
            "avg": self.avg,
            "n": self.n,
            "last": self.last,
            "prev": list(self.prev) if self.prev else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.avg, self.n, self.last = state["avg"], state["n"], state["last"]
        self.prev = (list(state["prev"][0]), list(state["prev"][1])) if state["prev"] else None

    def value(self) -> float | None:
        return self.avg / (1 - self.beta**self.n) if self.n else None
