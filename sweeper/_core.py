"""The sweeper behind the Hydra plugin (importable and testable without Hydra's scan).

It turns the settings and the command line (each parsed once) into a sweep: the objectives,
the scheduler (:mod:`sweeper.schedulers`, checked before anything is stored), the search space
(:mod:`sweeper._search_space`, seeded by range-test bounds), the study (created or resumed,
refused on any mismatch) and the pool that runs the jobs (:mod:`sweeper._pool`); then
:class:`sweeper._loop.Loop` runs it, and the recommendation and the results file end it. Bad
input (the project's own error types) and storage faults are one line and exit 2; any other
error keeps its traceback.
"""

from __future__ import annotations

import logging
import secrets
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from omegaconf import DictConfig, OmegaConf

from sweeper import _seeding as seeding
from sweeper._errors import SweepError
from sweeper._job import Fixed, Worker
from sweeper._jobs import GuardedTask, watch_ctrl_c
from sweeper._keys import NODE as KEYS_NODE
from sweeper._keys import SweepKeys
from sweeper._loop import Loop, LoopSettings
from sweeper._observers import TrackerTags
from sweeper._pool import make_pool
from sweeper._progress import final_lines, quiet_job_overrides, quiet_launchers
from sweeper._recommend import design_undecided, recommendation
from sweeper._results import dashboard_note, write_results
from sweeper._search_space import SearchSpace
from sweeper._space import intake
from sweeper._storage import StorageRef, default_url, describe_fault, open_storage
from sweeper._study import (
    StudyMismatch,
    WorkerTagged,
    claim_sweep_dir,
    fail_zombies,
    fixed_settings,
    open_study,
)
from sweeper.record import StudyKey
from sweeper.schedulers import Scheduler, SweepContext, make_scheduler
from sweeper.settings import SweeperSettings
from training.contract import OBJECTIVES, SUMMARY_KEYS
from training.errors import UserError

__all__ = ["SweepError", "SweeperCore"]

log = logging.getLogger(__name__)

# the project's own error types: bad input is one line; any other error keeps its traceback
BAD_INPUT = UserError  # the root of every bad-input error (training/errors.py)
STORAGE_FAULTS = (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError, OSError)


@dataclass(frozen=True)
class Sweep:
    """One sweep, built once (``SweeperCore._build``) and then run (``_run``)."""

    context: SweepContext
    space: SearchSpace
    study: optuna.Study
    storage: Any
    scheduler: Scheduler
    loop: Loop
    bounds: seeding.Bounds | None
    resumed: bool
    first: dict[str, float] | None  # the range test's seeded first trial of a new study


class SweeperCore:
    def __init__(self, settings: SweeperSettings, given: list[str] | None = None) -> None:
        self.settings = settings
        self.given = given or []  # the keys Hydra passed: one that is no setting is refused

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        from hydra.types import HydraContext

        from sweeper._compose import CachedConfigLoader

        self.config = config
        if (
            self.settings.jobs.compose_cache
        ):  # compose once per shape of overrides, not once per job
            loader = CachedConfigLoader(hydra_context.config_loader)
            hydra_context = HydraContext(config_loader=loader, callbacks=hydra_context.callbacks)
        self.hydra_context = hydra_context
        # a job's sys.exit fails its trial only; so does running past trial_timeout_s
        self.task = GuardedTask(task_function, self.settings.jobs.trial_timeout_s)
        self.sweep_dir = Path(config.hydra.sweep.dir)
        # the storage as written (``${oc.env:...}`` stays a placeholder in job overrides)
        raw = OmegaConf.to_container(config.hydra.sweeper, resolve=False)
        written = raw.get("storage") if isinstance(raw, dict) else None
        self.storage = StorageRef.of(written, self.settings.storage or default_url())

    def sweep(self, arguments: list[str]) -> None:
        url = self.storage.url
        try:
            problems = self.settings.problems(dict.fromkeys(self.given))
            if problems:
                raise SweepError("; ".join(problems) + ".")
            self.storage.refuse_literal_password()
            with watch_ctrl_c():
                self._sweep(arguments)
        except BAD_INPUT as e:  # bad input: one line
            print(f"error: {e}", file=sys.stderr, flush=True)
            sys.exit(2)
        except (
            STORAGE_FAULTS
        ) as e:  # the storage failed mid-sweep (disk full, read-only, server gone)
            print(f"error: {describe_fault(url, e)}", file=sys.stderr, flush=True)
            sys.exit(2)

    def _sweep(self, arguments: list[str]) -> None:
        """Build the sweep once, then run it."""
        self._run(self._build(arguments))

    def _build(self, arguments: list[str]) -> Sweep:
        """Everything the sweep runs with, checked and opened before any trial runs: the
        context (task config, keys, objectives), the space seeded by its bounds, the study,
        the scheduler and the pool, wired into the loop."""
        c = self.settings
        distributions, overrides = intake(c.params, arguments)
        fixed = [Fixed(o.key_or_group, str(o.input_line)) for o in overrides]
        loader = self.hydra_context.config_loader
        task_cfg = loader.load_sweep_config(self.config, [f.line for f in fixed])
        objectives = _objectives(c.objectives, task_cfg)
        keys = SweepKeys.of(task_cfg)
        fixed_keys = frozenset(f.key.lstrip("+~") for f in fixed)
        context = SweepContext(
            keys=keys,
            task_cfg=task_cfg,
            distributions=distributions,
            objectives=objectives,
            pruner=c.pruner,
            sweep_dir=self.sweep_dir,
            lr_levels=tuple(c.space.lr_levels),
            range_test=bool(c.space.range_test),
        )
        # the scheduler is checked before anything is stored or a range test runs
        scheduler = make_scheduler(c.scheduler, context)

        storage = open_storage(self.storage.url)
        # unique per sweep: two sweeps started in the same second must not share a study
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        name = c.study_name or f"{task_cfg.hydra.job.name}-{stamp}"
        claim_sweep_dir(self.sweep_dir, name, self.storage.shown)
        bounds = self._seed(keys, distributions, task_cfg, storage, name)
        space = SearchSpace.build(
            distributions,
            keys=keys,
            bounds=bounds,
            lr_levels=list(c.space.lr_levels),
            product_param=c.space.product_param,
            fixed_keys=set(fixed_keys),
            bounds_margin=c.space.bounds_margin,
        )
        space = replace(space, distributions=scheduler.searched(space.distributions, bounds))
        study, resumed = open_study(
            name=name,
            storage=storage,
            directions=list(objectives.values()),
            metrics=list(objectives),
            space=space.distributions,
            sampler=WorkerTagged(
                _sampler(c.sampler, space, _trials_so_far(storage, name)), storage, Worker.this()
            ),
            pruner=c.pruner,
            settings=fixed_settings(task_cfg, [*space.task_keys, KEYS_NODE]),
        )
        state = "resumed" if resumed else "new"
        log.info(
            f"study {name!r} in {self.storage.shown} ({state}); searching {sorted(space.distributions)}; objectives {objectives}"
        )
        grid_size = space.grid_size() if _is_grid(c.sampler) else None
        trial_budget = scheduler.budget(c.n_trials, grid_size)
        pool = make_pool(
            self.config,
            self._launcher,
            self._cluster_job,
            c.jobs.in_flight,
            self.sweep_dir,
            objectives,
            c.jobs.trial_timeout_s,
        )
        loop = Loop(
            study,
            storage,
            space,
            scheduler,
            pool,
            replace(LoopSettings.of(c), n_trials=trial_budget),
            tuple(fixed),
            objectives,
            self.storage.source,
            sweep_dir=self.sweep_dir,
            searchpath=searchpath_overrides(self.config),
            quiet=() if c.jobs.verbose else tuple(quiet_job_overrides(task_cfg.hydra)),
            observers=[TrackerTags()],  # each decision as the job's tracker tag, off the loop
        )
        scheduler.restore(loop, bounds)  # the loop is the scheduler's trial book
        first = None if resumed else seeded_first(space, keys, bounds, task_cfg, c.space)
        return Sweep(context, space, study, storage, scheduler, loop, bounds, resumed, first)

    def _run(self, sweep: Sweep) -> None:
        """A resumed study adopts what a dead sweep left; a new one gets its first trials from
        the scheduler; then the loop, and the answer from the study's model."""
        c, study, loop, bounds = self.settings, sweep.study, sweep.loop, sweep.bounds
        if sweep.resumed:
            faults = c.faults
            fail_zombies(
                study, sweep.storage, faults.stale_after_s, faults.retry_failed, adopt=loop.adopt
            )
        else:
            if bounds is not None:
                loop.store(StudyKey.BOUNDS, bounds.as_dict())
            sweep.scheduler.begin(loop, sweep.first)
        if not c.jobs.verbose:
            quiet_launchers()
        loop.run()
        keys, objectives = sweep.context.keys, sweep.context.objectives
        rec, said = recommendation(study, keys, objectives, stopped=design_undecided(study))
        results = write_results(
            self.sweep_dir,
            study,
            objectives,
            study.user_attrs.get(StudyKey.BOUNDS),
            self.storage,
            rec,
        )
        report = f"python -m tasks.report sweep_dir={self.sweep_dir}"
        lines = [*final_lines(study, objectives, report), said, f"results: {results}"]
        for line in lines:
            if line:
                log.info(line)
        dashboard_note(study, [said, *lines[:-2]])  # the recommendation once, first

    def _launcher(self) -> Any:
        from hydra.core.plugins import Plugins

        return Plugins.instance().instantiate_launcher(
            config=self.config, hydra_context=self.hydra_context, task_function=self.task
        )

    def _cluster_job(self) -> Any:
        from sweeper._hydra_job import HydraJob

        return HydraJob(self.hydra_context, self.task, self.config)

    def _seed(
        self,
        keys: SweepKeys,
        space: dict,
        task_cfg: DictConfig,
        storage: Any,
        name: str,
    ) -> seeding.Bounds | None:
        """Bounds for the lr key: the user's own interval, or a range test's; a resumed study (or a
        second worker) reuses the bounds stored with it instead of testing again."""
        c = self.settings
        if keys.lr is not None and keys.lr in space:
            return seeding.Bounds.user(space[keys.lr])
        if not c.space.range_test:
            return None
        lr = keys.need("lr", "hydra.sweeper.space.range_test")
        stored = _stored_bounds(storage, name)
        if stored is not None:
            try:
                bounds = seeding.Bounds.from_dict(stored)
            except seeding.BoundsError as e:
                raise StudyMismatch(
                    f"study {name!r} holds bad max_lr bounds ({e}); use another hydra.sweeper.study_name."
                ) from None
            if bounds.source != "user":
                log.info(
                    f"{lr} bounds {bounds.span()} as stored in study {name!r} (from {bounds.describe()})"
                )
                return bounds
        if c.space.range_test == "auto":
            out = self.sweep_dir / "range_test"
            bounds = seeding.run_auto(task_cfg, out, list(c.space.range_test_overrides))
        else:
            bounds = seeding.from_file(str(c.space.range_test))
        levels = bounds.levels(c.space.lr_levels).choices if c.space.lr_levels else None
        then = f"levels {levels}" if levels else f"first trial {lr}={bounds.suggested:.3g}"
        log.info(f"{lr} bounds {bounds.span()} from {bounds.describe()}; {then}")
        return bounds


def searchpath_overrides(config: DictConfig) -> tuple[str, ...]:
    """The sweep's ``hydra.searchpath=...`` as given: a user's own config dir, without which a
    trial's replay command could not find its ``data=`` or ``model=`` option."""
    lines = OmegaConf.select(config, "hydra.overrides.hydra", default=None) or []
    return tuple(str(o) for o in lines if str(o).lstrip("+").startswith("hydra.searchpath="))


def _objectives(given: dict[str, str], task_cfg: DictConfig) -> dict[str, str]:
    objectives = dict(given)
    name = task_cfg.get("objective")
    if not objectives:
        objectives = {name: OBJECTIVES[name]} if name in OBJECTIVES else {"value": "minimize"}
    elif name in OBJECTIVES:  # a task of the run contract: its objectives are summary.json keys
        unknown = sorted(set(objectives) - set(SUMMARY_KEYS))
        if unknown:
            raise SweepError(
                f"hydra.sweeper.objectives: {', '.join(unknown)} not in this task's summary.json; allowed: {', '.join(SUMMARY_KEYS)}."
            )
    return objectives  # their directions were checked with the other settings


# samplers whose seeded draws start over in a new process: a resumed sweep offsets their seed
# (QMC numbers its draws in the study and the grid visits cells: both go on as they were)
RESTARTING = (
    optuna.samplers.TPESampler,
    optuna.samplers.RandomSampler,
    optuna.samplers.CmaEsSampler,
    optuna.samplers.GPSampler,
)


def _sampler(
    make_sampler: Any, space: SearchSpace, resumed_at: int = 0
) -> optuna.samplers.BaseSampler:
    """The sampler from its partial: the grid sampler needs the search space, known only now. A
    seeded sampler resuming a study with ``resumed_at`` trials gets seed + that: the same seed
    would draw the sequence again and train the same settings a second time."""
    func = getattr(make_sampler, "func", None)
    if _is_grid(make_sampler):
        return make_sampler(search_space=space.grid())
    seed = getattr(make_sampler, "keywords", {}).get("seed")
    if (
        resumed_at
        and isinstance(seed, int)
        and isinstance(func, type)
        and issubclass(func, RESTARTING)
    ):
        log.info(
            f"sampler seed {seed} + {resumed_at} (the study's trials so far): a resume draws anew"
        )
        return make_sampler(seed=seed + resumed_at)
    return make_sampler()


def _is_grid(make_sampler: Any) -> bool:
    """The sampler's partial builds Optuna's grid sampler (it needs the space; it ends)."""
    return getattr(make_sampler, "func", None) is optuna.samplers.GridSampler


def _trials_so_far(storage: Any, name: str) -> int:
    try:
        return len(optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False))
    except KeyError:
        return 0


def _stored_bounds(storage: Any, name: str) -> dict | None:
    try:
        return optuna.load_study(study_name=name, storage=storage).user_attrs.get(StudyKey.BOUNDS)
    except KeyError:
        return None


def first_decay(
    space: SearchSpace,
    keys: SweepKeys,
    bounds: seeding.Bounds,
    task_cfg: DictConfig,
    timescale: float | None,
) -> dict[str, float]:
    """The first trial's wd (or lr x wd product): the decay timescale 1/(max_lr x wd) is
    ``timescale`` times the run's optimizer steps (the range test's steps per epoch x the
    task's epochs), kept inside the searched range. Empty when wd is not searched as a float,
    the range test did not record its steps or the prior is off: the sampler draws it."""
    epochs = OmegaConf.select(task_cfg, keys.budget) if keys.budget else None
    spe = bounds.steps_per_epoch
    if not timescale or not spe or not isinstance(epochs, int) or bounds.suggested is None:
        return {}
    product = 1.0 / (timescale * spe * epochs)  # lr x wd
    key, value = (
        (space.product.name, product)
        if space.product is not None
        else (keys.wd, product / bounds.suggested)
    )
    dist = space.distributions.get(key) if key else None
    if not isinstance(dist, optuna.distributions.FloatDistribution) or key is None:
        return {}
    return {key: min(max(value, dist.low), dist.high)}


def seeded_first(
    space: SearchSpace,
    keys: SweepKeys,
    bounds: seeding.Bounds | None,
    task_cfg: DictConfig,
    conf: Any,
) -> dict[str, float] | None:
    """The range test's seeded setting for a new study's first trial: its suggested max_lr and
    the prior's wd (``space.first_timescale``); None without a suggestion, or where lr is
    searched on levels (the suggestion is not one of them)."""
    if bounds is None or bounds.suggested is None or conf.lr_levels or not keys.lr:
        return None
    first = {keys.lr: bounds.suggested}
    decay = first_decay(space, keys, bounds, task_cfg, conf.first_timescale)
    for key, value in decay.items():
        log.info(
            f"first trial {key}={value:.3g}: a decay timescale 1/(lr x wd) of "
            f"{conf.first_timescale:g} runs (hydra.sweeper.space.first_timescale)"
        )
    return {**first, **decay}
