"""Rungs of short *complete* runs (e.g. 1 and 3 epochs) before the full one
(``supersweep_scheduler=rungs``).

Cutting a one-cycle run early judges it mid-cycle, where small peaks look best; a short
complete cycle is the fair comparison (bench/bench_search.py measures both). Each short run's
objective is reported at step = its budget and the study's pruner promotes the trial to the
next, longer run or prunes it; only survivors train the full run, and promoted runs start
before new trials (as in ASHA). What a trial spent and where it stands is in the study: its
reports (intermediate values) and its ``rung_epochs`` / ``epochs_total`` user attrs.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Any

from omegaconf import OmegaConf
from optuna.pruners import NopPruner
from optuna.trial import TrialState

from sweeper._errors import SweepError
from sweeper._job import Job
from sweeper._outcome import Outcome
from sweeper._seeding import Bounds
from sweeper.record import TrialKey, TrialRecord
from sweeper.schedulers import (
    Choice,
    Decision,
    NewTrial,
    OpenTrial,
    Promote,
    Scheduler,
    SweepContext,
    Tell,
    Trials,
)
from training.contract import RunStatus

log = logging.getLogger(__name__)

KNOB = "hydra.sweeper.scheduler.rungs"
FEW_STEPS = 50  # a first rung of fewer optimizer steps is warned about (BENCHMARKS.md, rungs)


class Rungs(Scheduler):
    needs_pruner = True  # the study's pruner decides each promotion

    def __init__(
        self,
        ctx: SweepContext,
        rungs: list[int] | tuple[int, ...] = (1, 3),
        min_rung_steps: int | None = None,
        straight_every: int = 0,
    ) -> None:
        rungs = list(rungs)
        if (
            not isinstance(straight_every, int)
            or isinstance(straight_every, bool)
            or straight_every < 0
        ):
            raise SweepError(
                f"hydra.sweeper.scheduler.straight_every must be an int >= 0, got {straight_every!r}."
            )
        # hedged brackets (Hyperband's idea): every straight_every-th trial (the seeded first
        # one included) skips the rungs and trains its full run at once; 0: none does
        self.straight_every = straight_every
        if not rungs or not _increasing_ints(rungs):
            raise SweepError(f"{KNOB} must be increasing ints >= 1, got {rungs!r}.")
        if min_rung_steps is not None and not _increasing_ints([min_rung_steps]):
            raise SweepError(
                f"hydra.sweeper.scheduler.min_rung_steps must be null or an int >= 1, got {min_rung_steps!r}."
            )
        self.rungs, self.min_rung_steps = rungs, min_rung_steps
        self.key = ctx.keys.need("budget", KNOB)
        full = OmegaConf.select(ctx.task_cfg, self.key)
        searched = self.key in ctx.distributions
        if not isinstance(full, int) or isinstance(full, bool) or searched:
            state = ", searched" if searched else ""
            raise SweepError(
                f"sweep_keys.budget={self.key!r} must name a fixed int setting of the task (got {full!r}{state})."
            )
        if len(ctx.objectives) != 1:
            raise SweepError(
                f"{KNOB} needs a single objective: rungs promote by one value (Optuna prunes single-objective studies only)."
            )
        if self.needs_pruner and isinstance(ctx.pruner, NopPruner):
            raise SweepError(
                "hydra/sweeper/supersweep_scheduler=rungs needs a pruner: hydra/sweeper/supersweep_pruner=successive_halving | hyperband | median."
            )
        self.full = full
        self.budgets = self._budgets(rungs)  # values of key, the full run last
        self.maximize = next(iter(ctx.objectives.values())) == "maximize"
        self.ctx = ctx

    def _budgets(self, rungs: list[int]) -> list[int]:
        dropped = [r for r in rungs if r >= self.full]
        if dropped:  # e.g. the preset's [1, 3] with epochs=3: those runs would be the full one
            log.info(f"rungs {dropped} are not shorter than {self.key}={self.full}: dropped")
        return [*(r for r in rungs if r < self.full), self.full]

    def restore(self, trials: Trials, bounds: Bounds | None) -> None:
        """With ``min_rung_steps`` and the range test's steps per epoch: each rung lengthened to
        at least that many optimizer steps (on a tiny dataset one epoch is a few steps, and a
        rung that short ranks by noise: BENCHMARKS.md "Rungs that carry signal")."""
        spe = bounds.steps_per_epoch if bounds is not None else None
        if spe and not self.min_rung_steps and self.rungs[0] * spe < FEW_STEPS:
            log.warning(
                f"the first rung ({self.key}={self.rungs[0]}) is {self.rungs[0] * spe} optimizer "
                f"steps: runs that short rank settings by noise (every one may score chance); "
                f"hydra.sweeper.scheduler.min_rung_steps={FEW_STEPS} lengthens them, or use full runs"
            )
        if not self.min_rung_steps or not spe:
            return
        least = math.ceil(self.min_rung_steps / spe)
        longer = sorted({max(r, least) for r in self.rungs})
        if longer != self.rungs:
            log.info(
                f"rungs {self.rungs} lengthened to {longer} {self.key}: at least "
                f"min_rung_steps={self.min_rung_steps} steps at {spe} steps per epoch"
            )
        self.budgets = self._budgets(longer)

    def run_at(self, template: Job, step: int) -> Job:
        n = template.number
        last = step == len(self.budgets) - 1
        return replace(
            template,
            step=step,
            subdir=str(n) if last else f"{n}-{self.key}{self.budgets[step]}",
            settings=self.settings(template, step),
            trial=replace(template.trial, report=False, rung=0 if last else self.budgets[step]),
        )

    def next_runs(self, free: int, trials: Trials) -> list[Choice]:
        return super().next_runs(free, trials) or self.pick(trials)

    def first_step(self, number: int) -> int:
        """A new trial's first run: its first rung, or (hedged) its full run."""
        hedged = self.straight_every and number % self.straight_every == 0
        return len(self.budgets) - 1 if hedged else 0

    def pick(self, trials: Trials) -> list[Choice]:
        """Always a pick: when the sweep has nothing left to run and no trial trained its full
        run (every promoted one failed, diverged or collapsed there), the best trial the pruner
        stopped at a rung trains its full run as a new trial (``pick_of``), once per study."""
        if not trials.idle() or trials.trials((TrialState.COMPLETE,)):
            return []
        done = trials.trials()
        if any(TrialKey.PICK_OF in t.user_attrs for t in done):
            return []
        sign = -1.0 if self.maximize else 1.0
        stopped = [  # by the pruner at a rung: the trials a full run never judged
            t
            for t in done
            if TrialRecord.of(t).status == RunStatus.PRUNED and t.intermediate_values
        ]
        if not stopped:
            return []
        best = min(
            stopped,
            key=lambda t: (
                -max(t.intermediate_values),
                sign * t.intermediate_values[max(t.intermediate_values)],
            ),
        )
        log.info(
            f"no trial trained its full run: trial {best.number}, the best stopped at a rung, trains it now"
        )
        return [NewTrial(best.params, {TrialKey.PICK_OF: best.number}, len(self.budgets) - 1)]

    def settings(self, job: Job, step: int) -> dict[str, Any]:
        """The scheduler's own overrides of the run at ``step`` (the full run: the task's own)."""
        return {} if step == len(self.budgets) - 1 else {self.key: self.budgets[step]}

    def on_result(self, run: Job, outcome: Outcome, trial: OpenTrial) -> Decision:
        # per step, in the study: a resumed sweep that reads a finished run again counts it once
        by_step = {
            **(trial.record().get(TrialKey.RUNG_EPOCHS) or {}),
            str(run.step): int(outcome.attrs.get("epochs") or 0),
        }
        spent = sum(by_step.values())
        trial.keep(TrialKey.RUNG_EPOCHS, by_step)
        trial.keep(TrialKey.EPOCHS_TOTAL, spent)
        outcome = replace(outcome, attrs={**outcome.attrs, "epochs_total": spent})
        if run.step == len(self.budgets) - 1 or outcome.state != TrialState.COMPLETE:
            return Tell(outcome)
        assert outcome.values is not None  # a COMPLETE outcome has its values
        value = outcome.values[0]
        trial.report(value, self.budgets[run.step])
        return self.judge(run, outcome, trial, value)

    def judge(self, run: Job, outcome: Outcome, trial: OpenTrial, value: float) -> Decision:
        """The study's pruner promotes the trial to its next run or prunes it."""
        budget = self.budgets[run.step]
        if trial.should_prune():
            return Tell(self.pruned(outcome, budget, value, trial.pruner()))
        nxt = self.budgets[run.step + 1]
        log.info(
            f"trial {run.number}: {self.key}={budget} -> {value:.4g}, promoted to {self.key}={nxt}"
        )
        return Promote(self.run_at(run, run.step + 1))

    def pruned(self, outcome: Outcome, budget: int, value: float, by: str) -> Outcome:
        reason = f"pruned by {by} after the {self.key}={budget} run ({value:.4g})"
        ended = Outcome.ended(TrialState.PRUNED, RunStatus.PRUNED, reason)
        return replace(ended, attrs={**outcome.attrs, **ended.attrs})


def _increasing_ints(values: list) -> bool:
    ints = all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values)
    return ints and list(values) == sorted(set(values))
