"""Typed config of the supersweep sweeper, stored under ``hydra/sweeper`` with nested
``sampler`` and ``pruner`` groups (``hydra/sweeper/sampler=gp``, ``hydra/sweeper/pruner=median``)."""

# no `from __future__ import annotations`: Hydra scans this module without registering it in
# sys.modules, and dataclasses cannot resolve string annotations then.

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class TPESamplerConf:
    _target_: str = "optuna.samplers.TPESampler"
    _partial_: bool = True
    seed: int | None = None
    n_startup_trials: int = 5
    multivariate: bool = True
    constant_liar: bool = True  # parallel workers do not all sample the same point


@dataclass
class RandomSamplerConf:
    _target_: str = "optuna.samplers.RandomSampler"
    _partial_: bool = True
    seed: int | None = None


@dataclass
class GridSamplerConf:
    _target_: str = "optuna.samplers.GridSampler"  # search_space comes from the params
    _partial_: bool = True
    seed: int | None = None


@dataclass
class CmaEsSamplerConf:
    _target_: str = "optuna.samplers.CmaEsSampler"
    _partial_: bool = True
    seed: int | None = None
    n_startup_trials: int = 1


@dataclass
class GPSamplerConf:
    _target_: str = "optuna.samplers.GPSampler"
    _partial_: bool = True
    seed: int | None = None
    n_startup_trials: int = 5


@dataclass
class NSGAIISamplerConf:
    _target_: str = "optuna.samplers.NSGAIISampler"
    _partial_: bool = True
    seed: int | None = None
    population_size: int = 20


@dataclass
class QMCSamplerConf:
    _target_: str = "optuna.samplers.QMCSampler"
    _partial_: bool = True
    seed: int | None = None
    qmc_type: str = "sobol"
    scramble: bool = True


@dataclass
class NopPrunerConf:
    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class MedianPrunerConf:
    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5
    n_warmup_steps: int = 3
    interval_steps: int = 1


@dataclass
class SuccessiveHalvingPrunerConf:
    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = 1  # rungs at 1, 3, 9, ... steps; Optuna's "auto" promotes everything until a trial completes
    reduction_factor: int = 3
    min_early_stopping_rate: int = 0


@dataclass
class HyperbandPrunerConf:
    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"
    reduction_factor: int = 3


@dataclass
class SupersweepSweeperConf:
    _target_: str = "hydra_plugins.supersweep_sweeper.supersweep_sweeper.SupersweepSweeper"
    defaults: list[Any] = field(default_factory=lambda: ["_self_", {"sampler": "tpe"}, {"pruner": "none"}])
    sampler: Any = None
    pruner: Any = None
    study_name: str | None = None  # null: <task>-<timestamp>; reuse a name to resume
    storage: str | None = None  # null: sqlite:///multirun/optuna.db; any Optuna RDB URL, ${oc.env:VAR} kept out of logs
    n_trials: int = 20  # total for the study: a resumed or parallel sweep stops when the study has this many
    n_jobs: int = 1  # trials per launcher batch
    objectives: dict[str, str] = field(default_factory=dict)  # {summary metric: direction}; empty: the task's `objective`
    params: dict[str, str] = field(default_factory=dict)  # name -> interval(...) / tag(log, ...) / int(...) / range(...) / choice(...)
    range_test: str | None = None  # null | auto | path to range_test.json or its run dir: bounds for seed_param
    range_test_overrides: list[str] = field(default_factory=list)  # e.g. "hydra.sweeper.range_test_overrides=['num_iter=200']" with range_test=auto
    seed_param: str = "max_lr"
    rungs: list[int] = field(default_factory=list)  # e.g. [1, 3]: short complete runs (rung_key=1, 3) the pruner promotes from; []: prune per epoch
    rung_key: str = "epochs"  # the task setting a rung shortens; the full run uses the task's own value
    max_failure_rate: float = 0.5  # stop when failed / finished trials exceeds this
    retry_failed: bool = False  # on resume, re-enqueue trials a dead sweep left RUNNING
    compose_cache: bool = True  # compose a job's config once per shape of overrides, then set values (tests/test_compose.py)
    lean_launch: bool = True  # with Hydra's basic launcher: the same jobs without copying their configs (tests/test_launch.py)
    stale_after_s: float = 900.0  # a RUNNING trial of another host with no heartbeat this long is dead


cs = ConfigStore.instance()
cs.store(group="hydra/sweeper", name="supersweep", node=SupersweepSweeperConf, provider="supersweep")
for name, node in {
    "tpe": TPESamplerConf, "random": RandomSamplerConf, "grid": GridSamplerConf, "cmaes": CmaEsSamplerConf,
    "gp": GPSamplerConf, "nsgaii": NSGAIISamplerConf, "qmc": QMCSamplerConf,
}.items():  # fmt: skip
    cs.store(group="hydra/sweeper/sampler", name=name, node=node, provider="supersweep")
for name, node in {
    "none": NopPrunerConf,
    "median": MedianPrunerConf,
    "successive_halving": SuccessiveHalvingPrunerConf,
    "hyperband": HyperbandPrunerConf,
}.items():
    cs.store(group="hydra/sweeper/pruner", name=name, node=node, provider="supersweep")
