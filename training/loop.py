"""The training loop: device-resident tensors, index-slice batches, schedule per step.

Batches are slices of a permutation made on the device with a seeded generator
(the airbench way), so there is no DataLoader and no per-sample Python. The loop
owns the step counter and evaluates the schedule at it before every step.
Callbacks see each epoch's metrics and may end the run by raising
:class:`StopTraining` (how pruning stops a trial).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from training.augment import Augment
from training.data import Splits
from training.regularization import WeightDecay
from training.schedules import Schedule


class StopTraining(Exception):
    """Raised by a callback to end training early with ``status`` (e.g. ``pruned``)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class FitResult:
    status: str  # completed | diverged | pruned | ...
    history: list[dict] = field(default_factory=list)
    steps: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class Precision:
    """How the forward pass runs: autocast dtype (or None) and memory format."""

    autocast_dtype: torch.dtype | None
    channels_last: bool

    def context(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype)


def set_hparams(optimizer: torch.optim.Optimizer, lr: float, momentum: float | None) -> None:
    """Write the schedule's lr and momentum (beta1 for Adam-style) into every group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
        if momentum is not None:
            if "betas" in group:
                group["betas"] = (momentum, group["betas"][1])
            else:
                group["momentum"] = momentum


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, precision: Precision, batch_size: int = 2048) -> tuple[float | None, float | None]:
    """Mean cross-entropy (no smoothing) and accuracy; ``(None, None)`` for an empty split."""
    if len(y) == 0:
        return None, None
    model.eval()
    loss = torch.zeros((), device=x.device, dtype=torch.float64)
    correct = torch.zeros((), device=x.device, dtype=torch.int64)
    for i in range(0, len(y), batch_size):
        xb, yb = _format(x[i : i + batch_size], precision), y[i : i + batch_size]
        with precision.context(x.device):
            out = model(xb)
        loss += F.cross_entropy(out.float(), yb, reduction="sum")
        correct += (out.argmax(1) == yb).sum()
    n = len(y)
    return loss.item() / n, correct.item() / n


def _format(x: torch.Tensor, precision: Precision) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if precision.channels_last and x.ndim == 4 else x


def batches(n: int, batch_size: int, generator: torch.Generator, device: torch.device) -> Iterator[torch.Tensor]:
    """Index slices of one seeded permutation: an epoch of full batches (the last partial one is dropped)."""
    perm = torch.randperm(n, device=device, generator=generator)
    for i in range(n // batch_size):
        yield perm[i * batch_size : (i + 1) * batch_size]


@dataclass(frozen=True)
class Stepper:
    """One optimizer step at a given (lr, momentum): shared by training and the LR range test."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    weight_decay: WeightDecay
    label_smoothing: float
    augment: Augment
    generator: torch.Generator
    precision: Precision

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor, lr: float, momentum: float | None) -> tuple[float, torch.Tensor]:
        """Train on one batch; returns its loss (before the step) and the logits.

        A non-finite loss returns at once, before ``backward``: the weights stay as they were.
        """
        if self.augment.active:
            xb = self.augment(xb, self.generator)
        set_hparams(self.optimizer, lr, momentum)
        with self.precision.context(xb.device):
            out = self.model(_format(xb, self.precision))
            loss = F.cross_entropy(out, yb, label_smoothing=self.label_smoothing)
        value = loss.item()  # one sync per step: a non-finite loss must stop this very step
        if not math.isfinite(value):
            return value, out
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.weight_decay.apply(self.optimizer, lr)
        self.optimizer.step()
        return value, out


def fit(
    step_fn: Stepper,
    data: Splits,
    schedule: Schedule,
    *,
    epochs: int,
    batch_size: int,
    callbacks: Sequence[Callable[[dict], None]] = (),
) -> FitResult:
    """Train for ``epochs``; evaluate on validation after each; stop at a non-finite loss."""
    model, device = step_fn.model, data.train_x.device
    steps_per_epoch = len(data.train_y) // batch_size
    result = FitResult(status="completed")
    step = 0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        loss_sum, correct = 0.0, torch.zeros((), device=device, dtype=torch.int64)
        for idx in batches(len(data.train_y), batch_size, step_fn.generator, device):
            lr, momentum = schedule(step)
            yb = data.train_y[idx]
            loss_value, out = step_fn(data.train_x[idx], yb, lr, momentum)
            if not math.isfinite(loss_value):
                result.status, result.steps = "diverged", step
                result.reason = f"non-finite training loss {loss_value} at step {step} (epoch {epoch}, lr {lr:.4g})"
                return result
            step += 1
            loss_sum += loss_value
            correct += (out.argmax(1) == yb).sum()
        val_loss, val_acc = evaluate(model, data.val_x, data.val_y, step_fn.precision)
        metrics = {
            "epoch": epoch,
            "step": step,
            "lr": lr,
            "momentum": momentum if momentum is not None else _current_momentum(step_fn.optimizer),
            "train_loss": loss_sum / steps_per_epoch,
            "train_acc": correct.item() / (steps_per_epoch * batch_size),
            "val_loss": val_loss,
            "val_acc": val_acc,
            "epoch_s": time.perf_counter() - t0,
        }
        result.history.append(metrics)
        result.steps = step
        try:
            for callback in callbacks:
                callback(metrics)
        except StopTraining as stop:
            result.status, result.reason = stop.status, stop.reason
            return result
        if val_loss is not None and not math.isfinite(val_loss):
            result.status, result.reason = "diverged", f"non-finite validation loss after epoch {epoch}"
            return result
    return result


def _current_momentum(optimizer: torch.optim.Optimizer) -> float | None:
    group = optimizer.param_groups[0]
    return group["betas"][0] if "betas" in group else group.get("momentum")
