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
    init_from, final = keys.init_from, keys.final_weights
    if init_from is None or final is None or not _has(task_cfg, init_from, final):
        raise SweepError(
            "hydra.sweeper.rung_continue needs a task with init_from and final-weights settings, named in its "
            "sweep_keys.init_from and sweep_keys.final_weights (tasks.train has them)."
        )
    return Continuation(key, [*steps, full], init_from, final, sweep_dir)


def _rungs(rungs: list, key: str, full: int) -> list[int]:
    if not all(isinstance(r, int) for r in rungs) or rungs != sorted(set(rungs)) or rungs[0] < 1:
        raise SweepError(f"hydra.sweeper.rungs must be increasing ints >= 1, got {rungs}.")
    if (
        rungs[-1] >= full
    ):  # e.g. the preset's [1, 3] with epochs=3: those runs would be the full one
        import logging

        dropped = [r for r in rungs if r >= full]
        logging.getLogger(__name__).info(
            f"rungs {dropped} are not shorter than {key}={full}: dropped"
        )
    return [r for r in rungs if r < full]


def _has(cfg: DictConfig, *keys: str) -> bool:
    """Whether the task config has each dotted key (a null value counts)."""
    from training.checks import flatten

    container = OmegaConf.to_container(cfg, resolve=False)
    flat = set(flatten(container)) if isinstance(container, dict) else set()
    return all(k in flat for k in keys)
