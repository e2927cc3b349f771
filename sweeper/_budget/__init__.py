"""Budget strategies: how many runs a trial trains, and of what length, before it is told.

A strategy has two calls: ``first(job)`` turns a trial's template job (its full run) into the
first run to launch, and ``on_result(job, outcome, trial)`` returns the trial's next run, or
None when ``outcome`` is what the study is told. The loop knows nothing else of budgets; a new
rule is a new module here and one line in :func:`make_budget`.

- :class:`FullRuns`: one full run per trial; the run reports each epoch, so a pruner (median,
  successive halving, ...) can stop it early;
- :class:`Rungs`: short complete runs first (e.g. 1 and 3 epochs), the pruner promotes;
- :class:`Continuation`: rungs where a promoted trial continues from its last run's weights
  (MORL).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.pruners import NopPruner

from sweeper._budget._continuation import Continuation
from sweeper._budget._full import FullRuns
from sweeper._budget._rungs import Rungs
from sweeper._errors import SweepError
from sweeper._job import Job
from sweeper._keys import SweepKeys
from sweeper._outcome import Outcome
from sweeper.settings import SweeperSettings

__all__ = ["Budget", "Continuation", "FullRuns", "Rungs", "make_budget"]

log = logging.getLogger(__name__)


class Budget(Protocol):
    def first(self, job: Job) -> Job: ...

    def on_result(self, job: Job, outcome: Outcome, trial: optuna.Trial) -> Job | None: ...


def make_budget(
    settings: SweeperSettings,
    keys: SweepKeys,
    task_cfg: DictConfig,
    searched: list[str],
    objectives: dict[str, str],
    pruner: Any,
    sweep_dir: Any,
) -> Budget:
    """The budget the settings ask for, checked before any trial runs."""
    if not settings.rungs:
        if settings.rung_continue:
            raise SweepError("hydra.sweeper.rung_continue needs hydra.sweeper.rungs (e.g. [1, 3]).")
        return FullRuns()
    key = keys.need("budget", "hydra.sweeper.rungs")
    full = OmegaConf.select(task_cfg, key)
    if not isinstance(full, int) or key in searched:
        state = ", searched" if key in searched else ""
        raise SweepError(
            f"sweep_keys.budget={key!r} must name a fixed int setting of the task (got {full!r}{state})."
        )
    steps = _rungs(list(settings.rungs), key, full)
    if len(objectives) != 1:
        raise SweepError(
            "hydra.sweeper.rungs needs a single objective: Optuna prunes single-objective studies only."
        )
    if isinstance(pruner, NopPruner):
        raise SweepError(
            "hydra.sweeper.rungs needs a pruner: hydra/sweeper/supersweep_pruner=successive_halving | hyperband | median."
        )
    if not settings.rung_continue:
        return Rungs(key, [*steps, full])
    why = "hydra.sweeper.rung_continue"
    if keys.init_from is None or keys.final_weights is None:
        raise SweepError(
            f"{why} needs a task with init_from and final-weights settings, named in its "
            "sweep_keys.init_from and sweep_keys.final_weights (tasks.train has them)."
        )
    init_from, final = keys.need("init_from", why), keys.need("final_weights", why)
    return Continuation(key, [*steps, full], init_from, final, sweep_dir)


def _rungs(rungs: list[int], key: str, full: int) -> list[int]:
    """The rungs shorter than the full run (``settings.problems`` checked they increase)."""
    dropped = [r for r in rungs if r >= full]
    if dropped:  # e.g. the preset's [1, 3] with epochs=3: those runs would be the full one
        log.info(f"rungs {dropped} are not shorter than {key}={full}: dropped")
    return [r for r in rungs if r < full]
