"""The optional parts of a run, one protocol: each sees every finished epoch and each way the
run ends. The metrics file, the progress line, the best-validation weights, the checkpoint (and
its preemption save), the final weights and the trackers are parts; ``runner.run`` calls the
hooks of all of them in order and knows none of them by name. A part overrides what it needs;
a plain callable passed to ``run`` is an epoch hook only."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from training.loop import FitResult, Preempted


class RunPart:
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
