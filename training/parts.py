"""The optional parts of a run, one protocol: each sees every optimizer step (after the
backward pass, before and after the optimizer's step), every finished epoch and each way the
run ends. The metrics file, the progress line, the best-validation weights, the checkpoint (and
its preemption save), the final weights and the trackers are parts; ``runner.run`` calls the
hooks of all of them in order and knows none of them by name. A part overrides what it needs;
a plain callable passed to ``run`` is an epoch hook only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.loop import FitResult, Preempted


@dataclass(frozen=True)
class Step:
    """One optimizer step as the parts see it: the model and optimizer, the step's lr, and the
    batch's loss at the model's current weights again (``loss_again()``: a second forward pass
    in the run's precision, BatchNorm statistics left alone; SAM's second pass uses it)."""

    model: Any
    optimizer: Any
    lr: float
    loss_again: Callable[[], Any]


class RunPart:
    def after_backward(self, step: Step) -> None:
        """The batch's gradient is in ``.grad`` (parts in order: the lr estimate reads it, SAM
        then replaces it with the gradient at the perturbed weights)."""

    def before_step(self, step: Step) -> None:
        """Weight decay was applied; the optimizer steps next."""

    def after_step(self, step: Step) -> None:
        """The optimizer stepped (a weight average takes the new weights)."""

    def epoch_values(self) -> dict[str, float | None]:
        """Values a step part adds to each epoch's metrics (the lr estimate's ``lr_estimate``)."""
        return {}

    def __call__(self, metrics: dict) -> None:
        """After each epoch, with its metrics."""

    def on_preempt(self, preempted: Preempted) -> None:
        """A stop signal arrived mid-run: the run is about to end by that signal."""

    def on_end(self, result: FitResult) -> None:
        """Training returned (completed, stopped early or diverged), before the test pass."""

    def on_summary(self, summary: dict) -> None:
        """``summary.json`` was written."""

    def close(self) -> None:
        """Always, however the run ended."""
