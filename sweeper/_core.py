"""The ask/tell loop behind the Hydra plugin (importable and testable without Hydra's scan).

Ask trials until ``n_jobs`` are in flight, turn each into override strings (the trial
stays replayable by hand), launch them (``_pool``: a batch through any Hydra launcher, or
submitit jobs each collected as it ends), read each job's outcome back and tell the study.
Diverged runs become PRUNED (worse than any completed trial for the sampler) with the
reason in user attrs; a raising job becomes FAIL; nothing is left RUNNING when the sweep
ends, is interrupted or a job dies, and no job of the sweep is left on a cluster.

With ``rungs`` (e.g. ``[1, 3]`` epochs) a trial first trains short *complete* runs: the
sweeper reports each run's objective at step = its budget and asks the pruner whether to
promote the trial to the next, longer run; only survivors train the full run. Cutting a
one-cycle run early judges it mid-cycle, where small peaks look best; a short complete
cycle is the fair comparison (bench/bench_search.py measures both).
"""

from __future__ import annotations

import logging
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution
from optuna.pruners import NopPruner
from optuna.trial import TrialState

from sweeper import _seeding as seeding
from sweeper._jobs import GuardedTask, watch_ctrl_c
from sweeper._outcome import Outcome
from sweeper._pool import make_pool
from sweeper._results import replay_command, write_results
from sweeper._space import SearchSpaceError, format_value, grid_values, parse
from sweeper._storage import default_url, describe_fault, literal_password, open_storage, redact
from sweeper._study import (
    StudyMismatch,
    WorkerTagged,
    claim_sweep_dir,
    fail_zombies,
    fixed_settings,
    open_study,
)
from sweeper._trial import worker_id
from sweeper.settings import SweeperSettings
from training.contract import OBJECTIVES

log = logging.getLogger(__name__)

DIRECTIONS = ("maximize", "minimize")
HEARTBEAT_S = 60.0


class SweepError(RuntimeError):
    """The sweep cannot start or must stop; the message says why in one line."""


@dataclass
class Sweep:
    """One sweep's state: what it searches and the trials it has in hand."""

    study: optuna.Study
    storage: optuna.storages.BaseStorage
    space: dict[str, BaseDistribution]
    fixed: list[str]  # overrides every job gets
    objectives: dict[str, str]
    budgets: list[int]  # rung mode: [*rungs, full] values of rung_key; [] = report every epoch
    open: dict[int, optuna.Trial] = field(
        default_factory=dict
    )  # asked and not told yet: failed if the sweep stops
    spent: dict[int, int] = field(
        default_factory=dict
    )  # rung mode: each trial's epochs (rung_key) over its runs
    finished: int = 0
    failed: int = 0
    heartbeat: float = 0.0  # when the sweep last vouched for its open trials

    @property
    def name(self) -> str:
        return self.study.study_name


class SweeperCore:
    def __init__(self, settings: SweeperSettings) -> None:
        self.settings = settings

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins
        from hydra.types import HydraContext

        from sweeper._compose import CachedConfigLoader

        self.config = config
        if self.settings.compose_cache:  # compose once per shape of overrides, not once per job
            hydra_context = HydraContext(
                config_loader=CachedConfigLoader(hydra_context.config_loader),
                callbacks=hydra_context.callbacks,
            )
        self.hydra_context = hydra_context
        self.launcher: Launcher = Plugins.instance().instantiate_launcher(
            config=config,
            hydra_context=hydra_context,
            task_function=GuardedTask(task_function),  # a job's sys.exit fails its trial only
        )
        self.sweep_dir = Path(config.hydra.sweep.dir)
        # the storage as written (``${oc.env:...}`` stays a placeholder in job overrides)
        raw = OmegaConf.to_container(config.hydra.sweeper, resolve=False)
        self.raw_storage: str | None = raw.get("storage") if isinstance(raw, dict) else None

    # --- setting up ---

    def _objectives(self, task_cfg: DictConfig) -> dict[str, str]:
        objectives = self.settings.objectives
        if not objectives:
            name = task_cfg.get("objective")
            objectives = {name: OBJECTIVES[name]} if name in OBJECTIVES else {"value": "minimize"}
        bad = {k: v for k, v in objectives.items() if v not in DIRECTIONS}
        if bad:
            raise SweepError(
                f"hydra.sweeper.objectives: directions must be one of {list(DIRECTIONS)}, got {bad}."
            )
        return dict(objectives)

    def _split_arguments(self, arguments: list[str]) -> tuple[dict[str, str], list[str]]:
        """Command-line overrides: searched params (sweep syntax) and fixed ones (passed to every job)."""
        searched: dict[str, str] = {}
        fixed: list[str] = []
        for o in OverridesParser.create().parse_overrides(arguments):
            line = str(o.input_line)
            if o.is_sweep_override():
                searched[o.get_key_element()] = line.split("=", 1)[1]  # the sweep as written
            else:
                fixed.append(line)
        return searched, fixed

    def sweep(self, arguments: list[str]) -> None:
        try:
            if literal_password(
                self.raw_storage
            ):  # Hydra writes the command line into multirun.yaml: refuse it
                raise SweepError(
                    f"hydra.sweeper.storage={redact(str(self.raw_storage))} holds a literal password, which would be written into every job's "
                    "files and printed; put the URL in an environment variable and pass hydra.sweeper.storage='${oc.env:OPTUNA_DB}'."
                )
            with watch_ctrl_c():
                self._sweep(arguments)
        except (
            SweepError,
            SearchSpaceError,
            StudyMismatch,
            ValueError,
            FileNotFoundError,
        ) as e:  # bad input: one line
            print(f"error: {e}", file=sys.stderr, flush=True)
            sys.exit(2)
        except (
            sqlalchemy.exc.SQLAlchemyError,
            optuna.exceptions.StorageInternalError,
            OSError,
        ) as e:  # the storage failed mid-sweep (disk full, read-only, server gone)
            print(
                f"error: {describe_fault(self.settings.storage or default_url(), e)}",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(2)

    def _sweep(self, arguments: list[str]) -> None:
        c = self.settings
        searched, fixed = self._split_arguments(arguments)
        space, fixed_params = parse(
            {**c.params, **searched}
        )  # the command line wins over the preset
        fixed += [f"{k}={v}" for k, v in fixed_params.items()]
        if c.n_jobs < 1 or c.n_trials < 1:
            raise SweepError(
                f"hydra.sweeper.n_trials and n_jobs must be >= 1, got n_trials={c.n_trials}, n_jobs={c.n_jobs}."
            )
        task_cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(fixed))
        objectives = self._objectives(task_cfg)

        url = c.storage or default_url()
        if self.raw_storage is None:
            self.raw_storage = url
        storage = open_storage(url)
        # unique per sweep: two sweeps started in the same second must not share a study
        name = (
            c.study_name
            or f"{task_cfg.hydra.job.name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        )
        claim_sweep_dir(self.sweep_dir, name, redact(url))
        bounds = self._seed(space, task_cfg, storage, name)
        if c.lr_levels and (bounds is None or bounds.source == "user"):
            raise SweepError(
                "hydra.sweeper.lr_levels are offsets from a range test's bounds: "
                f"set hydra.sweeper.range_test (auto or a path) and leave {c.seed_param} unsearched."
            )
        if bounds is not None and bounds.source != "user":
            space[c.seed_param] = (
                bounds.levels(c.lr_levels) if c.lr_levels else bounds.distribution()
            )
        self._check_product(space, fixed)
        make_sampler = (
            c.sampler
        )  # a partial: the grid sampler needs the search space, known only now
        is_grid = getattr(make_sampler, "func", None) is optuna.samplers.GridSampler
        sampler = WorkerTagged(
            make_sampler(**({"search_space": grid_values(space)} if is_grid else {})),
            storage,
            worker_id(),
        )
        budgets = self._budgets(task_cfg, space, objectives, c.pruner)
        study, resumed = open_study(
            name=name,
            storage=storage,
            directions=list(objectives.values()),
            metrics=list(objectives),
            space=space,
            sampler=sampler,
            pruner=c.pruner,
            settings=fixed_settings(task_cfg, [*space, "wd"] if c.product_param else list(space)),
        )
        log.info(
            f"study {name!r} in {redact(url)} ({'resumed' if resumed else 'new'}); searching {sorted(space)}; objectives {objectives}"
        )
        if resumed:
            fail_zombies(study, storage, c.stale_after_s, c.retry_failed)
        elif bounds is not None:
            study.set_user_attr("bounds", bounds.as_dict())
            if (
                bounds.suggested is not None and not c.lr_levels
            ):  # levels: the suggestion is not one of them
                study.enqueue_trial(
                    {c.seed_param: bounds.suggested},
                    user_attrs={"enqueued_from": "range test suggestion"},
                )
        self._loop(Sweep(study, storage, space, fixed, objectives, budgets))
        write_results(
            self.sweep_dir,
            study,
            objectives,
            study.user_attrs.get("bounds"),
            redact(url),
            str(self.raw_storage),
            fixed,
        )

    def _check_product(self, space: dict, fixed: list[str]) -> None:
        """``product_param`` needs both it and ``seed_param`` searched, and ``wd`` left to it."""
        p, lr = self.settings.product_param, self.settings.seed_param
        if p is None:
            return
        if p not in space or lr not in space:
            example = f"{p}='tag(log, interval(1e-6, 1e-2))'"
            raise SweepError(
                f"hydra.sweeper.product_param={p} needs both {p} and {lr} searched (e.g. {example}), got {sorted(space)}."
            )
        if "wd" in space or any(o.split("=", 1)[0].lstrip("+~") == "wd" for o in fixed):
            raise SweepError(
                f"wd is set from hydra.sweeper.product_param={p} (wd = {p} / {lr}); do not also give wd."
            )

    def _budgets(
        self, task_cfg: DictConfig, space: dict, objectives: dict[str, str], pruner: Any
    ) -> list[int]:
        """``[*rungs, full]`` values of ``rung_key`` a trial trains with, or [] (report every epoch)."""
        rungs, key = list(self.settings.rungs), self.settings.rung_key
        if not rungs:
            return []
        full = OmegaConf.select(task_cfg, key)
        if not isinstance(full, int) or key in space:
            raise SweepError(
                f"hydra.sweeper.rung_key={key!r} must name a fixed int setting of the task (got {full!r}{', searched' if key in space else ''})."
            )
        if (
            not all(isinstance(r, int) for r in rungs)
            or rungs != sorted(set(rungs))
            or rungs[0] < 1
        ):
            raise SweepError(f"hydra.sweeper.rungs must be increasing ints >= 1, got {rungs}.")
        if (
            rungs[-1] >= full
        ):  # e.g. the preset's [1, 3] with epochs=3: those runs would be the full one
            log.info(
                f"rungs {[r for r in rungs if r >= full]} are not shorter than {key}={full}: dropped"
            )
            rungs = [r for r in rungs if r < full]
        if len(objectives) != 1:
            raise SweepError(
                "hydra.sweeper.rungs needs a single objective: Optuna prunes single-objective studies only."
            )
        if isinstance(pruner, NopPruner):
            raise SweepError(
                "hydra.sweeper.rungs needs a pruner: hydra/sweeper/pruner=successive_halving | hyperband | median."
            )
        if self.settings.rung_continue and not (
            "init_from" in task_cfg and "checkpoint" in task_cfg
        ):
            raise SweepError(
                "hydra.sweeper.rung_continue needs a task with init_from and checkpoint.final settings (tasks.train has them)."
            )
        return [*rungs, full]

    def _seed(
        self, space: dict, task_cfg: DictConfig, storage: Any, name: str
    ) -> seeding.Bounds | None:
        """Bounds for ``seed_param``: the user's own interval, or a range test's; a resumed
        study (or a second worker) reuses the bounds stored with it instead of testing again."""
        c, param = self.settings, self.settings.seed_param
        if param in space:
            d = space[param]
            return seeding.Bounds(
                getattr(d, "low", None),
                getattr(d, "high", None),
                None,
                "user",
                None,
                "given on the command line or in params",
            )
        if not c.range_test:
            return None
        stored = _stored_bounds(storage, name)
        if stored is not None and not (isinstance(stored, dict) and stored.get("source") == "user"):
            try:
                bounds = seeding.Bounds.from_dict(stored)
            except ValueError as e:
                raise StudyMismatch(
                    f"study {name!r} holds bad max_lr bounds ({e}); use another hydra.sweeper.study_name."
                ) from None
            log.info(
                f"{param} bounds [{bounds.low:.3g}, {bounds.high:.3g}] as stored in study {name!r} (from {bounds.describe()})"
            )
            return bounds
        if c.range_test == "auto":
            bounds = seeding.run_auto(
                task_cfg, self.sweep_dir / "range_test", list(c.range_test_overrides)
            )
        else:
            bounds = seeding.from_file(str(c.range_test))
        then = (
            f"levels {bounds.levels(c.lr_levels).choices}"
            if c.lr_levels
            else f"first trial {param}={bounds.suggested:.3g}"
        )
        log.info(
            f"{param} bounds [{bounds.low:.3g}, {bounds.high:.3g}] from {bounds.describe()}; {then}"
        )
        return bounds

    # --- the loop ---

    def _loop(self, sw: Sweep) -> None:
        n_trials, n_jobs = self.settings.n_trials, self.settings.n_jobs
        pool = make_pool(self.launcher, self.settings.in_flight, self.sweep_dir, sw.objectives)
        promoted: list[
            tuple[optuna.Trial, int]
        ] = []  # (trial, rung) waiting for its next, longer run
        study = sw.study
        try:
            while True:
                # a worker on this host that died mid-trial: fail its trial now, not at the next resume
                fail_zombies(
                    study,
                    sw.storage,
                    self.settings.stale_after_s,
                    False,
                    mine=set(sw.open),
                    when="during the sweep of another worker",
                )
                free = n_jobs - pool.in_flight
                batch, promoted = promoted[:free], promoted[free:]  # survivors first, as in ASHA
                done = len(
                    study.get_trials(
                        deepcopy=False,
                        states=(
                            TrialState.COMPLETE,
                            TrialState.PRUNED,
                            TrialState.FAIL,
                            TrialState.RUNNING,
                        ),
                    )
                )
                new = 0 if _grid_exhausted(study) else min(free - len(batch), n_trials - done)
                for _ in range(max(new, 0)):
                    trial = study.ask(
                        fixed_distributions=sw.space
                    )  # the sampler has tagged it with this worker
                    sw.open[trial.number] = trial
                    batch.append((trial, 0))
                pool.start(
                    [((t.number, rung), self._job_overrides(sw, t, rung)) for t, rung in batch]
                )
                if not pool.in_flight:
                    break
                for (number, rung), outcome in pool.wait(
                    lambda: self._heartbeat(sw)
                ):  # all told before a stop: no finished run is lost
                    promoted += self._told(sw, sw.open[number], rung, outcome)
                self._check_failure_rate(sw)
        except BaseException as e:  # Ctrl-C, a stop on failures, a crash: no trial of ours stays RUNNING, no job of ours runs on
            reason = (
                "sweep interrupted (Ctrl-C)"
                if isinstance(e, KeyboardInterrupt)
                else f"sweep stopped: {type(e).__name__}: {e}"[:500]
            )
            try:
                pool.cancel()
                self._fail(sw, list(sw.open.values()), "interrupted", reason)
                fail_zombies(
                    study,
                    sw.storage,
                    self.settings.stale_after_s,
                    False,
                    when="when its sweep stopped",
                )  # e.g. a crash inside ask()
            except (
                Exception
            ) as fail_error:  # the storage itself may be what failed; a resume reaps them
                log.warning(
                    f"could not mark trials {sorted(sw.open)} failed ({type(fail_error).__name__}); a resume will"
                )
            raise

    def _heartbeat(self, sw: Sweep) -> None:
        """A job queued on a cluster shows no sign of life itself: the live sweep vouches for its
        trials, so a sweep on another host does not fail them as stale (``stale_after_s``)."""
        now = time.time()
        if now - sw.heartbeat >= HEARTBEAT_S:
            sw.heartbeat = now
            for t in sw.open.values():
                t.set_user_attr("heartbeat", now)

    def _told(
        self, sw: Sweep, t: optuna.Trial, rung: int, outcome: Outcome
    ) -> list[tuple[optuna.Trial, int]]:
        """Tell a finished run's trial, or promote it to its next rung (returned)."""
        if sw.budgets:
            sw.spent[t.number] = sw.spent.get(t.number, 0) + (outcome.attrs.get("epochs") or 0)
            outcome.attrs["epochs_total"] = sw.spent[t.number]
            if (
                rung < len(sw.budgets) - 1
                and outcome.state == TrialState.COMPLETE
                and self._survives(sw, t, rung, outcome)
            ):
                return [(t, rung + 1)]
        self._finish(sw, t, outcome)
        return []

    def _survives(self, sw: Sweep, trial: optuna.Trial, rung: int, outcome: Outcome) -> bool:
        """Report a short run's objective at step = its budget; the pruner promotes or prunes."""
        key, budget = self.settings.rung_key, sw.budgets[rung]
        assert outcome.values is not None  # a COMPLETE outcome has its values
        value = outcome.values[0]
        trial.report(value, budget)
        trial.set_user_attr("heartbeat", time.time())
        if not trial.should_prune():
            log.info(
                f"trial {trial.number}: {key}={budget} -> {value:.4g}, promoted to {key}={sw.budgets[rung + 1]}"
            )
            return True
        outcome.state, outcome.values = TrialState.PRUNED, None
        outcome.attrs.update(
            status="pruned",
            reason=f"pruned by {type(trial.study.pruner).__name__} after the {key}={budget} run ({value:.4g})",
        )
        return False

    def _finish(self, sw: Sweep, trial: optuna.Trial, outcome: Outcome) -> None:
        for k, v in outcome.attrs.items():
            if v is not None:  # each attr is its own storage write; absent reads as None anyway
                trial.set_user_attr(k, v)
        _tell(sw.study, trial, outcome.values, outcome.state)
        sw.open.pop(trial.number, None)
        sw.finished += 1
        sw.failed += outcome.state == TrialState.FAIL
        a = outcome.attrs
        log.info(
            f"trial {trial.number}: {a.get('status')} {outcome.values or ''} {a.get('reason') or ''}".rstrip()
        )

    def _check_failure_rate(self, sw: Sweep) -> None:
        """Judged once ``n_jobs`` trials have finished: one killed job of those in flight is not a rate of 1."""
        rate = sw.failed / sw.finished if sw.finished >= self.settings.n_jobs else 0.0
        if rate > self.settings.max_failure_rate:
            raise SweepError(
                f"{sw.failed} of {sw.finished} trials failed (rate {rate:.2f} > hydra.sweeper.max_failure_rate={self.settings.max_failure_rate}); "
                f"see the trials' 'reason' user attrs in study {sw.name!r}."
            )

    def _fail(self, sw: Sweep, trials: list[optuna.Trial], status: str, reason: str) -> None:
        for t in trials:
            self._finish(
                sw, t, Outcome(TrialState.FAIL, None, {"status": status, "reason": reason})
            )

    def _job_overrides(self, sw: Sweep, trial: optuna.Trial, rung: int) -> list[str]:
        params = dict(trial.params)
        product = self.settings.product_param
        if product is not None:  # the job gets wd; the study keeps the product it searched
            params["wd"] = params.pop(product) / params[self.settings.seed_param]
            if rung == 0:
                trial.set_user_attr("derived_params", {"wd": params["wd"]})
        searched = [f"{k}={format_value(v)}" for k, v in params.items()]
        if rung == 0:
            trial.set_user_attr("overrides", sw.fixed + searched)
            trial.set_user_attr(
                "replay", replay_command(sw.fixed + searched)
            )  # this trial, by hand
        bridge = [
            f"+trial.number={trial.number}",
            f"+trial.study={sw.name}",
            f"+trial.storage={self.raw_storage}",
            f"+trial.metric={next(iter(sw.objectives))}",
        ]
        if not sw.budgets:  # job dirs never collide, across workers and resumes; a retry continues in its zombie's dir
            return [
                *sw.fixed,
                *searched,
                *bridge,
                f"hydra.sweep.subdir={trial.user_attrs.get('resume_subdir', trial.number)}",
            ]
        # rung mode: complete runs that only heartbeat; the sweeper reports each run's result
        bridge.append("+trial.report=false")
        key, b = self.settings.rung_key, sw.budgets[rung]
        subdir = str(trial.number) if rung == len(sw.budgets) - 1 else f"{trial.number}-{key}{b}"
        if not self.settings.rung_continue:
            if rung == len(sw.budgets) - 1:
                return [*sw.fixed, *searched, *bridge, f"hydra.sweep.subdir={subdir}"]
            own = [o for o in sw.fixed if o.split("=", 1)[0].lstrip("+~") != key]
            return [*own, *searched, f"{key}={b}", *bridge, f"hydra.sweep.subdir={subdir}"]
        # MORL: each run trains the next budget's increment as a new cycle, from the previous run's weights
        own = [
            o
            for o in sw.fixed
            if o.split("=", 1)[0].lstrip("+~") not in (key, "init_from", "checkpoint.final")
        ]
        previous = sw.budgets[rung - 1] if rung else 0
        start = (
            [f"init_from={format_value(str(self.sweep_dir / f'{trial.number}-{key}{previous}'))}"]
            if rung
            else []
        )
        return [
            *own,
            *searched,
            f"{key}={b - previous}",
            "checkpoint.final=true",
            *start,
            *bridge,
            f"hydra.sweep.subdir={subdir}",
        ]


def _stored_bounds(storage: Any, name: str) -> dict | None:
    try:
        return optuna.load_study(study_name=name, storage=storage).user_attrs.get("bounds")
    except KeyError:
        return None


def _grid_exhausted(study: optuna.Study) -> bool:
    sampler = study.sampler.inner if isinstance(study.sampler, WorkerTagged) else study.sampler
    return isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(study)


def _tell(
    study: optuna.Study, trial: optuna.Trial, values: list[float] | None, state: TrialState
) -> None:
    """``study.tell``; a grid sampler's ``study.stop()`` (it raises outside ``optimize``) after the
    state is stored only means the grid is done, which the loop checks itself."""
    try:
        study.tell(trial, values=values, state=state, skip_if_finished=True)
    except RuntimeError as e:
        if "Study.stop" not in str(e):
            raise
