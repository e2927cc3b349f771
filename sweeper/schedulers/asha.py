"""Asynchronous successive halving (ASHA; Li et al., "A System for Massively Parallel
Hyperparameter Tuning", MLSys 2020; ``supersweep_scheduler=asha``).

The same short complete runs as :mod:`sweeper.schedulers.rungs`, but no pruner decides on the
spot: a trial whose short run finished *pauses*. Whenever a slot frees, the highest rung with a
paused trial in the top ``1 / reduction_factor`` of everything that finished that rung promotes
it; otherwise a new trial starts. A trial that is never promoted is told PRUNED when the sweep
has nothing left to start. Every rung result is a report in the study (intermediate values), so
what was promoted is derived from the study, and a resumed sweep adopts its paused trials.
"""

from __future__ import annotations

import logging

from optuna.trial import FrozenTrial, TrialState

from sweeper._errors import SweepError
from sweeper._job import Job
from sweeper._outcome import Outcome
from sweeper.schedulers import Choice, Decision, NewTrial, OpenTrial, Pause, SweepContext, Trials
from sweeper.schedulers.rungs import Rungs

log = logging.getLogger(__name__)


class AsyncHalving(Rungs):
    needs_pruner = False  # this scheduler promotes itself

    def __init__(
        self,
        ctx: SweepContext,
        rungs: list[int] | tuple[int, ...] = (1, 3),
        reduction_factor: int = 3,
        min_rung_steps: int | None = None,
    ) -> None:
        super().__init__(ctx, rungs, min_rung_steps)
        if not isinstance(reduction_factor, int) or reduction_factor < 2:
            raise SweepError(
                f"hydra.sweeper.scheduler.reduction_factor must be an integer >= 2, got {reduction_factor!r}."
            )
        self.eta = reduction_factor
        self.paused: dict[int, tuple[Job, float]] = {}  # trial -> its last run, its value

    def judge(self, run: Job, outcome: Outcome, trial: OpenTrial, value: float) -> Decision:
        self.paused[run.number] = (run, value)
        log.info(
            f"trial {run.number}: {self.key}={self.budgets[run.step]} -> {value:.4g}, paused "
            f"(promoted when it ranks in the top 1/{self.eta} of its rung)"
        )
        return Pause(value)

    def next_runs(self, free: int, trials: Trials) -> list[Choice]:
        out: list[Choice] = []
        new = trials.left()
        while len(out) < free:
            promoted = self._promotable(trials.trials())
            if promoted is not None:
                out.append(promoted)
            elif new > 0:
                out.append(NewTrial())
                new -= 1
            else:
                break
        if not out and trials.idle() and not self.paused:  # every paused one ended: the pick
            return self.pick(trials)
        return out

    def ending(self, trials: Trials) -> dict[int, Outcome]:
        """Nothing will run again: the trials still paused end pruned (not in the top)."""
        by = f"{type(self).__name__} (not in the top 1/{self.eta})"
        ended = {
            n: self.pruned(Outcome(TrialState.PRUNED, None, {}), self.budgets[run.step], value, by)
            for n, (run, value) in sorted(self.paused.items())
        }
        self.paused.clear()
        return ended

    def _promotable(self, trials: list[FrozenTrial]) -> Job | None:
        """The paused trial of the highest rung that is in its rung's top 1 / eta."""
        sign = -1.0 if self.maximize else 1.0
        for step in reversed(range(len(self.budgets) - 1)):
            budget = self.budgets[step]
            scores = {
                t.number: sign * t.intermediate_values[budget]
                for t in trials
                if budget in t.intermediate_values
            }
            top = sorted(scores, key=scores.__getitem__)[: len(scores) // self.eta]
            for n in top:
                if n in self.paused and self.paused[n][0].step == step:
                    run, _ = self.paused.pop(n)
                    log.info(
                        f"trial {n}: promoted from {self.key}={budget} to "
                        f"{self.key}={self.budgets[step + 1]} (top 1/{self.eta} of the "
                        f"{len(scores)} runs at that rung)"
                    )
                    return self.run_at(run, step + 1)
        return None
