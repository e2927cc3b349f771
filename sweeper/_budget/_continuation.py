"""MORL rungs ("Improving Multi-fidelity Optimization with a Recurring Learning Rate",
arXiv:2209.12499): a promoted trial continues from its last run's final weights with a new lr
cycle of the next budget's increment, instead of training from scratch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweeper._budget._rungs import Rungs
from sweeper._job import Job


class Continuation(Rungs):
    def __init__(self, key: str, budgets: list[int], init_from: str, final: str, sweep_dir: Path):
        super().__init__(key, budgets)
        self.init_from, self.final, self.sweep_dir = init_from, final, Path(sweep_dir)

    def settings(self, job: Job, step: int) -> dict[str, Any]:
        previous = self.budgets[step - 1] if step else 0
        out: dict[str, Any] = {self.key: self.budgets[step] - previous, self.final: True}
        if step:
            out[self.init_from] = str(self.sweep_dir / f"{job.number}-{self.key}{previous}")
        return out
