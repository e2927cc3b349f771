"""Rungs promoted by the study's model (``supersweep_scheduler=model_rungs``; issue 35 item 3).

A rung's rank among few short runs ranks good settings barely better than chance (BENCHMARKS.md
"Rungs that carry signal"). Here a finished rung run is judged by the model of *every* run of
the study (``analysis.surface``: rungs enter as runs of their length, the answer is read at the
full length): the trial trains its next run when its predicted full-run value, optimistically
read (mean + ``z`` sd), reaches the best predicted full-run value at any setting run so far,
less the practical margin; otherwise it is pruned, with the numbers in its reason. Without a
model yet (fewer than two finished runs) a trial is promoted: nothing to judge it by.
"""

from __future__ import annotations

import logging
import math

from optuna.trial import TrialState

from analysis.recommend import practical_margin
from sweeper._errors import SweepError
from sweeper._job import Job
from sweeper._outcome import Outcome
from sweeper._recommend import study_surface
from sweeper._seeding import Bounds
from sweeper.schedulers import Decision, OpenTrial, Promote, SweepContext, Tell, Trials
from sweeper.schedulers.rungs import Rungs

log = logging.getLogger(__name__)

WHY = "hydra/sweeper/supersweep_scheduler=model_rungs"


class ModelPromotion(Rungs):
    needs_pruner = False  # the model decides each promotion

    def __init__(
        self,
        ctx: SweepContext,
        rungs: list[int] | tuple[int, ...] = (1, 3),
        min_rung_steps: int | None = None,
        straight_every: int = 0,
        z: float = 1.0,
    ) -> None:
        if not isinstance(z, (int, float)) or isinstance(z, bool) or not math.isfinite(z) or z < 0:
            raise SweepError(f"hydra.sweeper.scheduler.z must be a number >= 0, got {z!r}.")
        super().__init__(ctx, rungs, min_rung_steps, straight_every)
        self.lr, self.wd = ctx.keys.need("lr", WHY), ctx.keys.need("wd", WHY)
        searched = {self.wd} <= set(ctx.distributions) and (
            self.lr in ctx.distributions or ctx.range_test
        )
        if not searched:
            raise SweepError(
                f"{WHY} judges by the model over (lr, wd): search both {self.lr} and {self.wd} "
                "in hydra.sweeper.params (or max_lr from a range test)."
            )
        self.metric = next(iter(ctx.objectives))
        self.z = float(z)
        self.book: Trials | None = None

    def restore(self, trials: Trials, bounds: Bounds | None) -> None:
        super().restore(trials, bounds)
        self.book = trials  # every run of the study, read at each judgement

    def judge(self, run: Job, outcome: Outcome, trial: OpenTrial, value: float) -> Decision:
        budget, nxt = self.budgets[run.step], self.budgets[run.step + 1]
        at = (float(run.params.get(self.lr, math.nan)), float(run.params.get(self.wd, math.nan)))
        done = self.book.trials() if self.book is not None else []
        s = study_surface(done, self.lr, self.wd, self.metric, self.maximize)
        if s is None or not all(math.isfinite(v) and v > 0 for v in at):
            log.info(
                f"trial {run.number}: {self.key}={budget} -> {value:.4g}, promoted (no model yet)"
            )
            return Promote(self.run_at(run, run.step + 1))
        sign = 1.0 if self.maximize else -1.0
        mean, sd = (float(x[0]) for x in s.predict(*at))
        seen = s.predict([r.lr for r in s.runs], [r.wd for r in s.runs])[0]
        best = float(max(sign * seen))
        finished = [t.value for t in done if t.state == TrialState.COMPLETE]
        margin = practical_margin(self.metric, finished or [value])
        said = (
            f"predicted full run {mean:.4g} +- {sd:.2g}, best predicted {sign * best:.4g}, "
            f"margin {margin:.3g}"
        )
        if sign * mean + self.z * sd >= best - margin:
            log.info(
                f"trial {run.number}: {self.key}={budget} -> {value:.4g}, promoted to "
                f"{self.key}={nxt} ({said})"
            )
            return Promote(self.run_at(run, run.step + 1))
        return Tell(self.pruned(outcome, budget, value, f"the study's model ({said})"))
