"""MORL rungs ("Improving Multi-fidelity Optimization with a Recurring Learning Rate",
arXiv:2209.12499; ``supersweep_scheduler=continuation``): a promoted trial continues from its
last run's final weights with a new lr cycle of the next budget's increment, instead of
training from scratch."""

from __future__ import annotations

from typing import Any

from sweeper._job import Job
from sweeper.schedulers import SweepContext
from sweeper.schedulers.rungs import Rungs

WHY = "hydra/sweeper/supersweep_scheduler=continuation"


class Continuation(Rungs):
    def __init__(
        self,
        ctx: SweepContext,
        rungs: list[int] | tuple[int, ...] = (1, 3),
        min_rung_steps: int | None = None,
    ) -> None:
        super().__init__(ctx, rungs, min_rung_steps)
        if ctx.keys.init_from is None or ctx.keys.final_weights is None:
            from sweeper._errors import SweepError

            raise SweepError(
                f"{WHY} needs a task with init_from and final-weights settings, named in its "
                "sweep_keys.init_from and sweep_keys.final_weights (tasks.train has them)."
            )
        self.init_from = ctx.keys.need("init_from", WHY)
        self.final = ctx.keys.need("final_weights", WHY)

    def settings(self, job: Job, step: int) -> dict[str, Any]:
        previous = self.budgets[step - 1] if step else 0
        out: dict[str, Any] = {self.key: self.budgets[step] - previous, self.final: True}
        if step:
            out[self.init_from] = str(self.ctx.sweep_dir / f"{job.number}-{self.key}{previous}")
        return out
