"""Typed config of the supersweep sweeper, stored under ``hydra/sweeper`` with nested
``sampler``, ``pruner`` and ``scheduler`` groups (``hydra/sweeper/supersweep_sampler=gp``,
``hydra/sweeper/supersweep_pruner=median``, ``hydra/sweeper/supersweep_scheduler=rungs``).

Samplers and pruners are Optuna's classes, stored here; schedulers are this project's, one YAML
file each in ``conf/hydra/sweeper/supersweep_scheduler/`` next to this module (put on Hydra's
search path by :class:`SupersweepSearchPath`), so a new one is a module and a file."""

# no `from __future__ import annotations`: Hydra scans this module without registering it in
# sys.modules, and dataclasses cannot resolve string annotations then.

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

from sweeper.settings import SweeperSettings
from sweeper.trial_ref import TrialRef


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
class NoSamplerConf:
    """No sampler: a scheduler that enqueues every trial (the balance design) proposes them."""

    _target_: str = "sweeper.schedulers.NoSampler"
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


# Our own group names: hydra-optuna-sweeper registers hydra/sweeper/sampler (tpe, random, ...) in
# the same ConfigStore, and of two nodes under one name the last loaded wins, breaking the other
# sweeper. The nodes still land at hydra.sweeper.sampler / .pruner (hydra.sweeper.sampler.seed=0).
SAMPLERS = "hydra/sweeper/supersweep_sampler"
PRUNERS = "hydra/sweeper/supersweep_pruner"
SCHEDULERS = "hydra/sweeper/supersweep_scheduler"  # YAML files: conf/<this path>/*.yaml


@dataclass
class SupersweepSweeperConf(SweeperSettings):
    """``hydra.sweeper.*``: the fields and defaults of :class:`sweeper.settings.SweeperSettings`."""

    _target_: str = "hydra_plugins.supersweep_sweeper.supersweep_sweeper.SupersweepSweeper"
    defaults: list[Any] = field(
        default_factory=lambda: [
            "_self_",
            {SAMPLERS.rsplit("/", 1)[1]: "tpe"},
            {PRUNERS.rsplit("/", 1)[1]: "none"},
            {SCHEDULERS.rsplit("/", 1)[1]: "full"},
        ]
    )


cs = ConfigStore.instance()
cs.store(
    group="hydra/sweeper", name="supersweep", node=SupersweepSweeperConf, provider="supersweep"
)
for name, node in {
    "tpe": TPESamplerConf,
    "random": RandomSamplerConf,
    "grid": GridSamplerConf,
    "none": NoSamplerConf,
    "cmaes": CmaEsSamplerConf,
    "gp": GPSamplerConf,
    "nsgaii": NSGAIISamplerConf,
    "qmc": QMCSamplerConf,
}.items():
    cs.store(
        group=SAMPLERS, name=name, node=node, package="hydra.sweeper.sampler", provider="supersweep"
    )
for name, node in {
    "none": NopPrunerConf,
    "median": MedianPrunerConf,
    "successive_halving": SuccessiveHalvingPrunerConf,
    "hyperband": HyperbandPrunerConf,
}.items():
    cs.store(
        group=PRUNERS, name=name, node=node, package="hydra.sweeper.pruner", provider="supersweep"
    )
# the ``trial`` node of a job the sweeper launches (sweeper.TrialRef), for apps that declare it
# (under hydra/: an internal node, not one of an app's groups in its --help)
cs.store(
    group="hydra/supersweep", name="trial", node=TrialRef, package="trial", provider="supersweep"
)
