"""One full run per trial (``supersweep_scheduler=full``). The run reports each epoch's value, so
a pruner (median, successive halving, ...) can stop it early.

``replicates=k``: the last ``k`` trials of the budget each train the setting the model of the
study's runs recommends at that moment (``sweeper._recommend``) again, with another run seed
(the task's seed + 1, + 2, ...). A setting that scored well on one lucky seed near the edge of
stability shows what it is, and repeats give the model seed noise of its own: the answer rests
on more than one run where it matters most.
"""

from __future__ import annotations

import logging

from omegaconf import OmegaConf
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial

from sweeper._errors import SweepError
from sweeper._job import RUN_SETTINGS
from sweeper.record import TrialKey
from sweeper.schedulers import Choice, NewTrial, Scheduler, SweepContext, Trials

log = logging.getLogger(__name__)

SEED_ATTR = TrialKey.REPLICATE_SEED


class FullRuns(Scheduler):
    def __init__(self, ctx: SweepContext, replicates: int = 0) -> None:
        if not isinstance(replicates, int) or isinstance(replicates, bool) or replicates < 0:
            raise SweepError(
                f"hydra.sweeper.scheduler.replicates must be an integer >= 0, got {replicates!r}."
            )
        self.ctx, self.replicates = ctx, replicates
        self.seed_key = ctx.keys.seed or "seed"
        base = OmegaConf.select(ctx.task_cfg, self.seed_key, default=0)
        self.base_seed = base if isinstance(base, int) and not isinstance(base, bool) else 0
        keys = ctx.keys
        searched = [  # max_lr from a range test's bounds is searched too
            k
            for k in (keys.lr, keys.wd)
            if k in ctx.distributions or (k == keys.lr and ctx.range_test)
        ]
        if replicates and (len(searched) < 2 or len(ctx.objectives) != 1):
            raise SweepError(
                "hydra.sweeper.scheduler.replicates repeats the recommended (max_lr, wd): it needs "
                f"one objective and both sweep_keys.lr and sweep_keys.wd searched (got {searched})."
            )

    def next_runs(self, free: int, trials: Trials) -> list[Choice]:
        if self.replicates and min(free, trials.left()) and trials.left() <= self.replicates:
            done = trials.trials()
            pick = self._recommended(done)
            if pick is not None:  # one a call: the next one's model has this one's trial too
                seed = self.base_seed + sum(SEED_ATTR in t.user_attrs for t in done) + 1
                shown = ", ".join(f"{k}={v:.3g}" for k, v in pick.items())
                log.info(
                    f"the next trial trains the recommended {shown} again with "
                    f"{self.seed_key}={seed} (scheduler.replicates={self.replicates})"
                )
                # the seed is in its replay too
                return [NewTrial(pick, {SEED_ATTR: seed, RUN_SETTINGS: {self.seed_key: seed}})]
        return super().next_runs(free, trials)

    def _recommended(self, study: list[FrozenTrial]) -> dict[str, float] | None:
        """The model's recommendation now, inside the searched ranges (None: no model yet)."""
        from analysis.recommend import recommend
        from sweeper._recommend import study_surface

        keys = self.ctx.keys
        assert keys.lr is not None and keys.wd is not None
        metric, direction = next(iter(self.ctx.objectives.items()))
        s = study_surface(study, keys.lr, keys.wd, metric, direction == "maximize")
        if s is None:
            return None
        rec = recommend(s)
        return {
            keys.lr: _inside(rec.max_lr, study, keys.lr),
            keys.wd: _inside(rec.wd, study, keys.wd),
        }


def _inside(value: float, study: list[FrozenTrial], key: str) -> float:
    """``value`` clipped into the study's distribution for ``key`` (an enqueued value outside
    it would be drawn anew)."""
    for t in study:
        d = t.distributions.get(key)
        if isinstance(d, FloatDistribution):
            return float(min(max(value, d.low), d.high))
    return value
