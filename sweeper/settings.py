"""The sweeper's settings (``hydra.sweeper.*``): typed dataclasses, their defaults in one place.

Twelve top-level settings: the three strategy groups (``sampler``, ``pruner``, ``scheduler``:
each chosen by a Hydra config group and carrying its own knobs), the study (``study_name``,
``storage``, ``n_trials``, ``n_jobs``, ``objectives``, ``params``) and three nodes that group
the rest: ``space`` (how the range test seeds what is searched), ``jobs`` (how each trial's job
runs) and ``faults`` (what a failure costs). The Hydra plugin stores a subclass in Hydra's
ConfigStore (adding ``_target_`` and the group defaults); :meth:`SweeperSettings.from_hydra`
turns Hydra's keyword arguments back into this class for the core.
"""

# no `from __future__ import annotations`: OmegaConf reads these annotations as types when the
# plugin's subclass becomes a structured config.

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf


@dataclass
class SpaceSettings:
    """``hydra.sweeper.space``: how the lr key's bounds seed the searched params."""

    # null | auto | path to range_test.json or its run dir: bounds for the task's sweep_keys.lr
    range_test: str | None = None
    # e.g. ['num_iter=200'] with range_test=auto
    range_test_overrides: list[str] = field(default_factory=list)
    # decades the searched max_lr interval reaches past the range test's bounds on each side (the
    # bounds seed the search, they do not fence it: on the suite the best max_lr was up to 2.2x
    # above the bound, BENCHMARKS.md "Task suite")
    bounds_margin: float = 0.0
    # log10 offsets from the range test's max_lr bound, e.g. [-1.5, -1, -0.5, 0, 0.5]: the lr is
    # searched at these levels (a categorical, for the grid sampler) instead of the bounds' interval
    lr_levels: list[float] = field(default_factory=list)
    # a searched param that holds lr x wd (e.g. lr_x_wd): each job gets wd = it / lr, so a sampler
    # searches along the balance diagonal instead of discovering it
    product_param: str | None = None
    # e.g. 3.2: the first trial (the range test's suggested max_lr) gets the wd whose decay
    # timescale 1/(max_lr x wd) is this many times the run's optimizer steps; null: the sampler
    # draws it. Off by default: with 3.2 the first run landed more often, the search's final pick
    # less often (BENCHMARKS.md "The first trial")
    first_timescale: float | None = None


@dataclass
class JobSettings:
    """``hydra.sweeper.jobs``: how each trial's job runs."""

    # hydra-submitit launchers (submitit_slurm, submitit_local): submit each trial as its own job
    # and keep n_jobs in flight; false: a job array per batch that waits for its slowest job (as
    # hydra-submitit's launch()). Either is cancelled on a stop
    in_flight: bool = True
    # a trial still running this long after its job started fails (its job is cancelled on a
    # cluster, stopped in this process); null: no limit
    trial_timeout_s: float | None = None
    # the whole sweep's wall-clock budget in seconds (Optuna's `timeout`, Ray Tune's
    # time_budget_s): once spent no new run starts, the runs in flight finish, trials waiting
    # for a promotion end pruned, and the sweep ends with its answer; null: no budget
    timeout_s: float | None = None
    # compose a job's config once per shape of overrides, then set values (tests/test_compose.py)
    compose_cache: bool = True
    # true: each job's per-epoch lines and the launcher's "Launching" lines (with the internal
    # +trial.* overrides) on the console too; false: in each job's log file only (its warnings
    # and errors still reach the console)
    verbose: bool = False


@dataclass
class FaultSettings:
    """``hydra.sweeper.faults``: what a failed or lost trial costs."""

    # stop when failed / finished trials exceeds this
    max_failure_rate: float = 0.5
    # on resume, run again the trials a dead sweep left RUNNING (an unfinished run continues in
    # its own job dir, from its checkpoint)
    retry_failed: bool = False
    # a RUNNING trial of another host with no heartbeat this long is dead
    stale_after_s: float = 900.0


@dataclass
class SweeperSettings:
    # an Optuna sampler class as a partial (the grid sampler gets its search space when the sweep starts)
    sampler: Any = None
    # an Optuna pruner
    pruner: Any = None
    # what runs next (hydra/sweeper/supersweep_scheduler=full | rungs | asha | continuation |
    # balance): a _target_ (a sweeper.schedulers.Scheduler) and its own settings
    scheduler: Any = None
    # null: <task>-<timestamp>; reuse a name to resume
    study_name: str | None = None
    # null: sqlite:///multirun/optuna.db; any Optuna RDB URL, ${oc.env:VAR} kept out of logs
    storage: str | None = None
    # total for the study: a resumed or parallel sweep stops when the study has this many
    n_trials: int = 20
    # trials run at once: per launcher batch, or kept in flight (jobs.in_flight)
    n_jobs: int = 1
    # {summary metric: direction}; empty: the task's `objective`
    objectives: dict[str, str] = field(default_factory=dict)
    # name -> interval(...) / tag(log, ...) / int(...) / range(...) / choice(...)
    params: dict[str, str] = field(default_factory=dict)
    space: SpaceSettings = field(default_factory=SpaceSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    faults: FaultSettings = field(default_factory=FaultSettings)

    def problems(self, given: dict[str, Any] | None = None) -> list[str]:
        """Every setting that is not allowed, one line each, checked as a whole before anything
        is stored (``given``: the keys Hydra passed, to name ones that are no setting at all)."""
        out = [
            MOVED[k]
            if k in MOVED
            else f"hydra.sweeper.{k} is not a setting; allowed: {', '.join(NAMES)}"
            for k in unknown(given or {})
        ]
        for name, value, ok, allowed in (
            ("n_trials", self.n_trials, _int(self.n_trials, 1), "an integer >= 1"),
            ("n_jobs", self.n_jobs, _int(self.n_jobs, 1), "an integer >= 1"),
            (
                "faults.max_failure_rate",
                self.faults.max_failure_rate,
                _num(self.faults.max_failure_rate, 0, 1),
                "a number in [0, 1]",
            ),
            (
                "faults.stale_after_s",
                self.faults.stale_after_s,
                _num(self.faults.stale_after_s, 0, math.inf, low_open=True),
                "a number of seconds > 0",
            ),
            (
                "faults.retry_failed",
                self.faults.retry_failed,
                isinstance(self.faults.retry_failed, bool),
                "true or false",
            ),
            (
                "jobs.trial_timeout_s",
                self.jobs.trial_timeout_s,
                self.jobs.trial_timeout_s is None
                or _num(self.jobs.trial_timeout_s, 0, math.inf, low_open=True),
                "null or seconds > 0",
            ),
            (
                "jobs.timeout_s",
                self.jobs.timeout_s,
                self.jobs.timeout_s is None
                or _num(self.jobs.timeout_s, 0, math.inf, low_open=True),
                "null or seconds > 0",
            ),
            (
                "space.lr_levels",
                self.space.lr_levels,
                all(_num(v, -math.inf, math.inf) for v in self.space.lr_levels),
                "a list of finite log10 offsets",
            ),
            (
                "space.bounds_margin",
                self.space.bounds_margin,
                _num(self.space.bounds_margin, 0, 3),
                "decades in [0, 3]",
            ),
            (
                "space.first_timescale",
                self.space.first_timescale,
                self.space.first_timescale is None
                or _num(self.space.first_timescale, 0, math.inf, low_open=True),
                "null or a number of runs > 0",
            ),
        ):
            if not ok:
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
        groups = {"space": SpaceSettings, "jobs": JobSettings, "faults": FaultSettings}
        plain: dict[str, Any] = {}
        for k, v in conf.items():
            if k not in NAMES:
                continue
            value = (
                OmegaConf.to_container(v, resolve=True)
                if isinstance(v, (DictConfig, ListConfig))
                else v
            )
            if k in groups and isinstance(value, dict):
                value = groups[k](**{str(name): x for name, x in value.items()})
            plain[k] = value
        return cls(**plain)


NAMES = tuple(f.name for f in dataclasses.fields(SweeperSettings))
HYDRA_KEYS = ("_target_", "defaults")

# settings of earlier releases that users have in their commands: one line naming the new key
_SCHEDULER = "hydra/sweeper/supersweep_scheduler"
MOVED = {
    "rungs": f"hydra.sweeper.rungs moved: {_SCHEDULER}=rungs hydra.sweeper.scheduler.rungs=[1,3] ([] was: {_SCHEDULER}=full)",
    "rung_continue": f"hydra.sweeper.rung_continue moved: {_SCHEDULER}=continuation hydra.sweeper.scheduler.rungs=[1,3]",
    "adaptive_runs": f"hydra.sweeper.adaptive_runs moved: {_SCHEDULER}=balance hydra.sweeper.scheduler.max_runs=N",
    **{
        k: f"hydra.sweeper.{k} moved: hydra.sweeper.space.{k}"
        for k in (f.name for f in dataclasses.fields(SpaceSettings))
    },
    **{
        k: f"hydra.sweeper.{k} moved: hydra.sweeper.jobs.{k}"
        for k in (f.name for f in dataclasses.fields(JobSettings))
    },
    **{
        k: f"hydra.sweeper.{k} moved: hydra.sweeper.faults.{k}"
        for k in (f.name for f in dataclasses.fields(FaultSettings))
    },
}


def bool_settings() -> set[str]:
    """The dotted ``hydra.sweeper.*`` keys of the true/false settings."""
    out = set()
    for group, cls in (("space", SpaceSettings), ("jobs", JobSettings), ("faults", FaultSettings)):
        for f in dataclasses.fields(cls):
            if f.type in (bool, "bool"):
                out.add(f"hydra.sweeper.{group}.{f.name}")
    return out


def moved(key: str) -> str | None:
    """The one line for an old spelling (``hydra.sweeper.rungs``), else None."""
    head, _, leaf = key.lstrip("+~").partition("hydra.sweeper.")
    return MOVED.get(leaf) if not head and leaf else None


def unknown(given: dict[str, Any]) -> list[str]:
    return sorted(k for k in given if k not in NAMES and k not in HYDRA_KEYS)


def _num(v: Any, low: float, high: float, low_open: bool = False) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return False
    return (v > low if low_open else v >= low) and v <= high


def _int(v: Any, low: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


GROUPS = {"space": SpaceSettings, "jobs": JobSettings, "faults": FaultSettings}
STRATEGIES = ("sampler", "pruner", "scheduler")


def settings_problem(conf: dict[str, Any]) -> str | None:
    """The first bad ``hydra.sweeper.*`` setting in a resolved sweeper config, as one line, or
    None: keys that are no setting (with the settings it may have meant), values out of range,
    a strategy whose ``_target_`` cannot be found or that takes no such parameter, rungs that
    are not a list. Checked before anything runs (the pre-check and the sweeper's own start)."""
    for group, cls in GROUPS.items():
        node = conf.get(group)
        if isinstance(node, dict):
            fields = [f.name for f in dataclasses.fields(cls)]
            for key in node:
                if key not in fields:
                    return _not_a_setting(f"{group}.{key}", [f"{group}.{f}" for f in fields])
    for name in STRATEGIES:
        node = conf.get(name)
        if isinstance(node, dict):
            problem = _strategy_problem(name, node)
            if problem:
                return problem
    problem = _ignored_sampler(conf)
    if problem:
        return problem
    given = {k: v for k, v in conf.items() if k not in HYDRA_KEYS}
    try:
        settings = SweeperSettings.from_hydra(**given)
    except TypeError as e:  # a group given as something other than a mapping
        return f"hydra.sweeper: {e}"
    problems = settings.problems(dict.fromkeys(given))
    return problems[0] if problems else None


def _ignored_sampler(conf: dict[str, Any]) -> str | None:
    """A scheduler that enqueues every run itself (the balance design) runs with
    ``supersweep_sampler=none``: a sampler chosen beside it would be ignored without a word; and
    ``none`` beside any other scheduler would propose nothing."""
    import importlib

    scheduler = str((conf.get("scheduler") or {}).get("_target_", ""))
    sampler = str((conf.get("sampler") or {}).get("_target_", ""))
    module, _, attr = scheduler.rpartition(".")
    try:
        owns = bool(getattr(importlib.import_module(module), attr).owns_sampling)
    except (ImportError, AttributeError, ValueError):
        return None  # an unknown scheduler is said by _strategy_problem
    name = sampler.rpartition(".")[2]
    if owns and sampler and name != "NoSampler":
        return (
            f"hydra/sweeper/supersweep_scheduler={_group_choice(scheduler)} enqueues every run "
            f"itself: the sampler {name} would not be used; use hydra/sweeper/supersweep_sampler=none "
            "(as sweep=balance does)"
        )
    if not owns and name == "NoSampler":
        return (
            "hydra/sweeper/supersweep_sampler=none proposes no trial: only a scheduler that "
            "enqueues every run itself (hydra/sweeper/supersweep_scheduler=balance) runs without one"
        )
    return None


def _group_choice(target: str) -> str:
    """``sweeper.schedulers.balance.BalanceDesign`` -> ``balance`` (its YAML file's name)."""
    return target.split(".")[-2]


def dotted_names() -> list[str]:
    """Every ``hydra.sweeper.*`` setting's dotted name (the strategies' own keys excluded)."""
    out = [f"hydra.sweeper.{n}" for n in NAMES]
    for group, cls in GROUPS.items():
        out += [f"hydra.sweeper.{group}.{f.name}" for f in dataclasses.fields(cls)]
    return out


def _not_a_setting(key: str, known: list[str]) -> str:
    import difflib

    hint = difflib.get_close_matches(key, known, n=2, cutoff=0.6)
    said = f"did you mean {' or '.join(f'hydra.sweeper.{h}' for h in hint)}?" if hint else ""
    allowed = ", ".join(k.rpartition(".")[2] for k in known)
    return f"hydra.sweeper.{key} is not a setting; {said or 'allowed: ' + allowed}"


def _strategy_problem(name: str, node: dict[str, Any]) -> str | None:
    import importlib
    import inspect

    target = node.get("_target_")
    if not isinstance(target, str):
        return None
    module, _, attr = target.rpartition(".")
    try:
        made = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):  # Hydra's "Error locating target"
        return f"hydra.sweeper.{name}._target_={target}: no such class (pick one of hydra/sweeper/supersweep_{name})"
    try:
        params = inspect.signature(made).parameters
    except (TypeError, ValueError):
        return None
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    known = [p for p in params if p not in ("self", "ctx")]
    for key in node:
        if key.startswith("_") or takes_any or key in known:
            continue
        return _not_a_setting(f"{name}.{key}", [f"{name}.{k}" for k in known])
    rungs = node.get("rungs")
    if "rungs" in node and not (
        isinstance(rungs, list)
        and all(isinstance(r, int) and not isinstance(r, bool) for r in rungs)
    ):
        return f"hydra.sweeper.{name}.rungs must be a list of increasing epochs, e.g. [1,3], got {rungs!r}"
    return None
