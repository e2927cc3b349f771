"""The training loop: seeded batch order, schedule per step, any data behind one interface.

Batches follow a permutation made on the device with a seeded generator. In-memory data
(the fast path) slices device-resident tensors with it (the airbench way: no DataLoader, no
per-sample Python); streamed Datasets read the same batches through a DataLoader. The loop
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
from training.averaging import Averaging, NoAveraging
from training.contract import RunStatus
from training.data import Data
from training.optim import StepRule
from training.parts import RunPart, Step
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
    status: str  # a RunStatus: completed | diverged | pruned (a stop rule) | collapsed (judge)
    history: list[dict] = field(default_factory=list)
    steps: int = 0
    reason: str | None = None
    partial: PartialEpoch | None = None  # a resumed run: where the interrupted epoch stood


@dataclass
class PartialEpoch:
    """An epoch stopped at a step boundary: its batch order, the next batch, the running sums."""

    epoch: int
    batch: int
    perm: torch.Tensor
    loss_sum: float
    correct: torch.Tensor


class Preempted(Exception):
    """A stop signal arrived: the run stopped at a step boundary, at ``partial``, after ``steps``."""

    def __init__(self, signal_name: str, partial: PartialEpoch, steps: int) -> None:
        super().__init__(f"{signal_name} at step {steps}")
        self.signal_name, self.partial, self.steps = signal_name, partial, steps


@dataclass(frozen=True)
class Precision:
    """How the forward pass runs: autocast dtype (or None) and memory format."""

    autocast_dtype: torch.dtype | None
    channels_last: bool

    def context(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype)


def set_hparams(optimizer: StepRule, lr: float, momentum: float | None) -> None:
    """Write the schedule's lr and momentum (beta1 for Adam-style) into every group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
        if momentum is not None:
            if "betas" in group:
                group["betas"] = (momentum, group["betas"][1])
            else:
                group["momentum"] = momentum


EVAL_BATCH = 2048


@torch.inference_mode()
def evaluate(
    model: nn.Module, data: Data, split: str, precision: Precision
) -> tuple[float | None, float | None]:
    """Mean cross-entropy (no smoothing) and accuracy on ``split``; ``(None, None)`` when empty."""
    n = data.size(split)
    if n == 0:
        return None, None
    model.eval()
    loss = torch.zeros((), device=data.device, dtype=torch.float64)
    correct = torch.zeros((), device=data.device, dtype=torch.int64)
    for xb, yb in data.eval_batches(split, EVAL_BATCH):
        with precision.context(data.device):
            out = model(_format(xb, precision))
        loss += F.cross_entropy(out.float(), yb, reduction="sum")
        correct += (out.argmax(1) == yb).sum()
    return loss.item() / n, correct.item() / n


def _format(x: torch.Tensor, precision: Precision) -> torch.Tensor:
    return (
        x.contiguous(memory_format=torch.channels_last)
        if precision.channels_last and x.ndim == 4
        else x
    )


def epoch_order(data: Data, generator: torch.Generator) -> torch.Tensor:
    """One epoch's seeded sample order (the last partial batch of it is dropped)."""
    return torch.randperm(data.n_train, device=data.device, generator=generator)


def batches(
    data: Data, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Training batches in seeded epochs, without end (the range test's stream)."""
    while True:
        yield from data.train_batches(epoch_order(data, generator), batch_size)


@dataclass(frozen=True)
class Stepper:
    """One optimizer step at a given (lr, momentum): shared by training and the LR range test."""

    model: nn.Module
    optimizer: StepRule
    weight_decay: WeightDecay
    label_smoothing: float
    augment: Augment
    generator: torch.Generator
    precision: Precision
    # the parts that act within a step (training.parts.RunPart's step events), in order: the lr
    # estimate, SAM's second pass, a weight average
    parts: tuple[RunPart, ...] = ()
    # the weight average the run is judged by (also among ``parts``: it takes every step's
    # weights); None: the raw weights
    average: Averaging | None = None

    def __call__(
        self, xb: torch.Tensor, yb: torch.Tensor, lr: float, momentum: float | None
    ) -> tuple[float, torch.Tensor]:
        """Train on one batch; returns its loss (before the step) and the logits.

        A non-finite loss returns at once, before ``backward``: the weights stay as they were.
        The parts see the step after ``backward``, before and after the optimizer's step.
        """
        if self.augment.active:
            xb = self.augment(xb, self.generator)
        set_hparams(self.optimizer, lr, momentum)
        xb = _format(xb, self.precision)
        with self.precision.context(xb.device):
            out = self.model(xb)
            loss = F.cross_entropy(out, yb, label_smoothing=self.label_smoothing)
        value = loss.item()  # one sync per step: a non-finite loss must stop this very step
        if not math.isfinite(value):
            return value, out
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if not self.parts:
            self.weight_decay.apply(self.optimizer, lr)
            self.optimizer.step()
            return value, out

        def loss_again() -> torch.Tensor:
            with _frozen_norm_stats(self.model), self.precision.context(xb.device):
                return F.cross_entropy(self.model(xb), yb, label_smoothing=self.label_smoothing)

        step = Step(self.model, self.optimizer, lr, loss_again)
        for part in self.parts:
            part.after_backward(step)
        self.weight_decay.apply(self.optimizer, lr)
        for part in self.parts:
            part.before_step(step)
        self.optimizer.step()
        for part in self.parts:
            part.after_step(step)
        return value, out


@contextlib.contextmanager
def _frozen_norm_stats(model: nn.Module) -> Iterator[None]:
    """BatchNorm layers normalize with the batch as usual but leave their running statistics alone."""
    norms = [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved, strict=True):
            m.momentum = momentum


def fit(
    step_fn: Stepper,
    data: Data,
    schedule: Schedule,
    *,
    epochs: int,
    batch_size: int,
    callbacks: Sequence[Callable[[dict], None]] = (),
    resume: FitResult | None = None,
    stop: Callable[[], str | None] | None = None,
) -> FitResult:
    """Train for ``epochs``; evaluate on validation after each; stop at a non-finite loss.
    ``resume``: the epochs a checkpoint holds (its history and step count) are not trained again,
    and an interrupted epoch continues at its next batch. ``stop``: polled before every step; a
    signal's name there raises :class:`Preempted` at that step boundary."""
    model, device = step_fn.model, data.device
    averaging = step_fn.average if step_fn.average is not None else NoAveraging(model)
    steps_per_epoch = data.n_train // batch_size
    result = resume if resume is not None else FitResult(status=RunStatus.COMPLETED)
    step = result.steps
    for epoch in range(len(result.history) + 1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        part, result.partial = result.partial, None
        if part is not None and part.epoch == epoch:
            perm, first, loss_sum, correct = part.perm, part.batch, part.loss_sum, part.correct
        else:
            perm, first = epoch_order(data, step_fn.generator), 0
            loss_sum, correct = 0.0, torch.zeros((), device=device, dtype=torch.int64)
        for i, (xb, yb) in enumerate(data.train_batches(perm, batch_size, first), start=first):
            signal_name = stop() if stop is not None else None
            if signal_name:
                raise Preempted(signal_name, PartialEpoch(epoch, i, perm, loss_sum, correct), step)
            lr, momentum = schedule(step)
            loss_value, out = step_fn(xb, yb, lr, momentum)
            if not math.isfinite(loss_value):
                result.status, result.steps = RunStatus.DIVERGED, step
                result.reason = f"non-finite training loss {loss_value} at step {step} (epoch {epoch}, lr {lr:.4g})"
                return result
            step += 1
            loss_sum += loss_value
            correct += (out.argmax(1) == yb).sum()
        averaging.after_epoch(epoch, epochs, _inputs(data, batch_size, step_fn.precision))
        judged = averaging.evaluated()  # the average once it exists, else the raw weights
        val_loss, val_acc = evaluate(judged, data, "val", step_fn.precision)
        extra: dict[str, float | None] = {}
        if averaging.active:
            raw = (
                (val_loss, val_acc)
                if judged is model
                else evaluate(model, data, "val", step_fn.precision)
            )
            extra = {"raw_val_loss": raw[0], "raw_val_acc": raw[1]}
        for step_part in step_fn.parts:  # what the step's parts add (the lr estimate)
            extra.update(step_part.epoch_values())
        metrics = {
            "epoch": epoch,
            "step": step,
            "lr": lr,
            "momentum": momentum if momentum is not None else _current_momentum(step_fn.optimizer),
            "train_loss": loss_sum / steps_per_epoch,
            "train_acc": correct.item() / (steps_per_epoch * batch_size),
            "val_loss": val_loss,
            "val_acc": val_acc,
            **extra,
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
            result.status, result.reason = (
                RunStatus.DIVERGED,
                f"non-finite validation loss after epoch {epoch}",
            )
            return result
    return result


def _inputs(data: Data, batch_size: int, precision: Precision) -> Iterator[torch.Tensor]:
    """The training inputs in order, unaugmented, for recomputing BatchNorm statistics."""
    for x, _ in data.eval_batches("train", batch_size):
        yield _format(x, precision)


def _current_momentum(optimizer: StepRule) -> float | None:
    group = optimizer.param_groups[0]
    return group["betas"][0] if "betas" in group else group.get("momentum")
