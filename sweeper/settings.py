"""The sweeper's settings (``hydra.sweeper.*``): one typed dataclass, its defaults in one place.

The Hydra plugin stores a subclass of it in Hydra's ConfigStore (adding ``_target_`` and the
sampler/pruner defaults); Hydra instantiates the plugin with these fields, and
:meth:`SweeperSettings.from_hydra` turns them back into this class for the core.
"""

# no `from __future__ import annotations`: OmegaConf reads these annotations as types when the
# plugin's subclass becomes a structured config.

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf


@dataclass
class SweeperSettings:
    # an Optuna sampler class as a partial (the grid sampler gets its search space when the sweep starts)
    sampler: Any = None
    # an Optuna pruner
    pruner: Any = None
    # null: <task>-<timestamp>; reuse a name to resume
    study_name: str | None = None
    # null: sqlite:///multirun/optuna.db; any Optuna RDB URL, ${oc.env:VAR} kept out of logs
    storage: str | None = None
    # total for the study: a resumed or parallel sweep stops when the study has this many
    n_trials: int = 20
    # trials run at once: per launcher batch, or kept in flight (in_flight)
    n_jobs: int = 1
    # hydra-submitit launchers (submitit_slurm, submitit_local): submit each trial as its own job
    # and keep n_jobs in flight; false: a job array per batch that waits for its slowest job (as
    # hydra-submitit's launch()). Either is cancelled on a stop
    in_flight: bool = True
    # {summary metric: direction}; empty: the task's `objective`
    objectives: dict[str, str] = field(default_factory=dict)
    # name -> interval(...) / tag(log, ...) / int(...) / range(...) / choice(...)
    params: dict[str, str] = field(default_factory=dict)
    # null | auto | path to range_test.json or its run dir: bounds for the task's sweep_keys.lr
    range_test: str | None = None
    # decades the searched max_lr interval reaches past the range test's bounds on each side (the
    # bounds seed the search, they do not fence it: on the suite the best max_lr was up to 2.2x
    # above the bound, BENCHMARKS.md "Task suite")
    bounds_margin: float = 0.0
    # e.g. ['num_iter=200'] with range_test=auto
    range_test_overrides: list[str] = field(default_factory=list)
    # log10 offsets from the range test's max_lr bound, e.g. [-1.5, -1, -0.5, 0, 0.5]: the lr is
    # searched at these levels (a categorical, for the grid sampler) instead of the bounds' interval
    lr_levels: list[float] = field(default_factory=list)
    # a searched param that holds lr x wd (e.g. lr_x_wd): each job gets wd = it / lr, so a sampler
    # searches along the balance diagonal instead of discovering it
    product_param: str | None = None
    # > 0 (with lr_levels): the balance design adapts (sweeper/_design.py): a pilot per lr level
    # moves the levels where runs train, then the grid, then levels or seeds are added until the
    # slope's interval decides between lr x wd = const and no dependence, or this many runs are
    # spent; 0: the fixed grid of lr_levels x params
    adaptive_runs: int = 0
    # e.g. [1, 3]: short complete runs (sweep_keys.budget = 1, 3) the pruner promotes from;
    # []: full runs, pruned per epoch
    rungs: list[int] = field(default_factory=list)
    # MORL (Kim et al. 2022): a promoted trial continues from its last rung run's weights with a
    # new lr cycle of the remaining epochs (needs sweep_keys.init_from and final_weights)
    rung_continue: bool = False
    # stop when failed / finished trials exceeds this
    max_failure_rate: float = 0.5
    # on resume, re-enqueue trials a dead sweep left RUNNING
    retry_failed: bool = False
    # compose a job's config once per shape of overrides, then set values (tests/test_compose.py)
    compose_cache: bool = True
    # a RUNNING trial of another host with no heartbeat this long is dead
    stale_after_s: float = 900.0

    # true: each job's per-epoch lines and the launcher's "Launching" lines (with the internal
    # +trial.* overrides) on the console too; false: in each job's log file only (its warnings
    # and errors still reach the console)
    verbose: bool = False

    # a trial still running this long after its job started fails (its job is cancelled on a
    # cluster, stopped in this process); null: no limit
    trial_timeout_s: float | None = None

    def problems(self, given: dict[str, Any] | None = None) -> list[str]:
        """Every setting that is not allowed, one line each, checked as a whole before anything
        is stored (``given``: the keys Hydra passed, to name ones that are no setting at all)."""
        out = [
            f"hydra.sweeper.{k} is not a setting; allowed: {', '.join(NAMES)}"
            for k in unknown(given or {})
        ]
        for name, ok, allowed in (
            ("n_trials", _int(self.n_trials, 1), "an integer >= 1"),
            ("n_jobs", _int(self.n_jobs, 1), "an integer >= 1"),
            ("max_failure_rate", _num(self.max_failure_rate, 0, 1), "a number in [0, 1]"),
            (
                "stale_after_s",
                _num(self.stale_after_s, 0, math.inf, low_open=True),
                "a number of seconds > 0",
            ),
            (
                "trial_timeout_s",
                self.trial_timeout_s is None
                or _num(self.trial_timeout_s, 0, math.inf, low_open=True),
                "null or seconds > 0",
            ),
            (
                "lr_levels",
                all(_num(v, -math.inf, math.inf) for v in self.lr_levels),
                "a list of finite log10 offsets",
            ),
            ("rungs", _increasing_ints(self.rungs), "increasing ints >= 1"),
            ("adaptive_runs", _int(self.adaptive_runs, 0), "an integer >= 0"),
            ("bounds_margin", _num(self.bounds_margin, 0, 3), "decades in [0, 3]"),
        ):
            if not ok:
                value = getattr(self, name)
                out.append(f"hydra.sweeper.{name} must be {allowed}, got {value!r}")
        for key, direction in self.objectives.items():
            if direction not in ("maximize", "minimize"):
                out.append(
                    f"hydra.sweeper.objectives.{key} must be maximize or minimize, got {direction!r}"
                )
        return out

    @classmethod
    def from_hydra(cls, **conf: Any) -> "SweeperSettings":
        """The keyword arguments Hydra instantiates the plugin with (configs become plain containers)."""
        names = {f.name for f in dataclasses.fields(cls)}
        plain: dict[str, Any] = {}
        for k, v in conf.items():
            if k in names:
                plain[k] = (
                    OmegaConf.to_container(v, resolve=True)
                    if isinstance(v, (DictConfig, ListConfig))
                    else v
                )
        return cls(**plain)


NAMES = tuple(f.name for f in dataclasses.fields(SweeperSettings))
HYDRA_KEYS = ("_target_", "defaults")


def unknown(given: dict[str, Any]) -> list[str]:
    return sorted(k for k in given if k not in NAMES and k not in HYDRA_KEYS)


def _num(v: Any, low: float, high: float, low_open: bool = False) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return False
    return (v > low if low_open else v >= low) and v <= high


def _int(v: Any, low: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _increasing_ints(values: list) -> bool:
    return all(_int(v, 1) for v in values) and list(values) == sorted(set(values))
