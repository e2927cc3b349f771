"""Weight averaging: SWA (Izmailov et al. 2018) and an EMA of the weights, on
``torch.optim.swa_utils``; ``averaging=none | swa | ema`` (``conf/averaging/``).

Once an average exists, the run evaluates it instead of the raw weights: ``val_*`` in
``metrics.jsonl`` and the selection keys of ``summary.json`` are the averaged model's, and
``raw_val_*`` / ``raw_test_*`` keep the raw model's. SWA appends its learning-rate segment
to any schedule: the schedule runs for the first ``start`` fraction of the epochs, then the
lr anneals (cos or linear, as ``SWALR`` does) to ``swa_lr`` over ``anneal_epochs`` and stays
there; the weights are averaged at the end of every ``every``-th epoch of that segment, and
BatchNorm statistics are recomputed on the training data before each evaluation. The EMA
(``decay``) is updated after every optimizer step, BatchNorm buffers included.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

from training.checks import ConfigError
from training.parts import RunPart, Step
from training.schedules import ANNEALS, Schedule, chain, piecewise


class NoAveraging(RunPart):  # also the interface the loop uses (see ``Averaging``)
    """``averaging=none``: the raw weights are evaluated. An active average is a part of every
    step (``after_step``: it takes the new weights)."""

    active = False

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def main_steps(self, total_steps: int, steps_per_epoch: int) -> int:
        return total_steps

    def extend(
        self, schedule: Schedule, main_steps: int, total_steps: int, steps_per_epoch: int
    ) -> Schedule:
        return schedule

    def after_step(self, step: Step | None = None) -> None:
        pass

    def after_epoch(
        self, epoch: int, epochs: int, train_batches: Iterator[torch.Tensor] | None = None
    ) -> None:
        pass

    def evaluated(self) -> nn.Module:
        return self.model

    def state_dict(self) -> dict:
        average = getattr(self, "average", None)
        return {"average": average.state_dict()} if average is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.average.load_state_dict(state["average"])  # type: ignore[attr-defined]


class SWA(NoAveraging):
    active = True

    def __init__(
        self,
        model: nn.Module,
        start: float,
        every: int,
        swa_lr: float,
        anneal_epochs: float,
        anneal: str,
    ) -> None:
        if not (isinstance(start, (int, float)) and 0 < start < 1):
            raise ConfigError(
                f"averaging.start must be a fraction of the epochs in (0, 1), got {start!r}."
            )
        if not (isinstance(every, int) and every >= 1):
            raise ConfigError(f"averaging.every must be an integer >= 1, got {every!r}.")
        if not (isinstance(swa_lr, (int, float)) and math.isfinite(swa_lr) and swa_lr > 0):
            raise ConfigError(f"averaging.swa_lr must be a finite number > 0, got {swa_lr!r}.")
        if not (isinstance(anneal_epochs, (int, float)) and anneal_epochs >= 0):
            raise ConfigError(f"averaging.anneal_epochs must be >= 0, got {anneal_epochs!r}.")
        if anneal not in ("cos", "linear"):
            raise ConfigError(f"averaging.anneal must be one of ['cos', 'linear'], got {anneal!r}.")
        super().__init__(model)
        self.start, self.every, self.swa_lr, self.anneal_epochs, self.anneal = (
            start,
            every,
            float(swa_lr),
            anneal_epochs,
            anneal,
        )
        self.average = AveragedModel(model)
        self.first_epoch = 0  # set by main_steps: the first epoch of the SWA segment (1-based)

    def main_steps(self, total_steps: int, steps_per_epoch: int) -> int:
        epochs = total_steps // steps_per_epoch
        main_epochs = min(max(1, round(self.start * epochs)), epochs - 1)
        if main_epochs < 1:
            raise ConfigError(f"averaging=swa needs at least 2 epochs, got {epochs}.")
        self.first_epoch = main_epochs + 1
        return main_epochs * steps_per_epoch

    def extend(
        self, schedule: Schedule, main_steps: int, total_steps: int, steps_per_epoch: int
    ) -> Schedule:
        return swa_segment(
            schedule,
            main_steps,
            round(self.anneal_epochs * steps_per_epoch),
            self.swa_lr,
            self.anneal,
        )

    def after_epoch(
        self, epoch: int, epochs: int, train_batches: Iterator[torch.Tensor] | None = None
    ) -> None:
        if epoch >= self.first_epoch and (epoch - self.first_epoch) % self.every == 0:
            self.average.update_parameters(self.model)
        if self.average.n_averaged.item() > 0 and train_batches is not None:
            update_bn(train_batches, self.average, device=next(self.model.parameters()).device)

    def evaluated(self) -> nn.Module:
        return self.average if self.average.n_averaged.item() > 0 else self.model


class EMA(NoAveraging):
    active = True

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not (isinstance(decay, (int, float)) and 0 < decay < 1):
            raise ConfigError(f"averaging.decay must be in (0, 1), got {decay!r}.")
        super().__init__(model)
        self.average = AveragedModel(
            model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True
        )

    def after_step(self, step: Step | None = None) -> None:
        self.average.update_parameters(self.model)

    def evaluated(self) -> nn.Module:
        return self.average


Averaging = NoAveraging | SWA | EMA


def swa_segment(
    main: Schedule, main_steps: int, anneal_steps: int, swa_lr: float, anneal: str
) -> Schedule:
    """``main`` for ``main_steps``, then the lr anneals from ``main``'s last lr to ``swa_lr`` over
    ``anneal_steps`` (``SWALR``'s cos or linear rule, stepped per optimizer step) and stays; the
    momentum stays at ``main``'s last value."""
    last_lr, last_momentum = main(main_steps - 1)
    hold = (lambda _s: last_momentum) if last_momentum is not None else None
    parts: list[tuple[int, Schedule]] = [(main_steps, main)]
    if anneal_steps > 0:
        parts.append(
            (
                anneal_steps,
                Schedule(piecewise([0, anneal_steps], [last_lr, swa_lr], [ANNEALS[anneal]]), hold),
            )
        )
    return chain(parts, Schedule(lambda _s: swa_lr, hold))
