"""The sweeper's settings (``hydra.sweeper.*``): one typed dataclass, its defaults in one place.

The Hydra plugin stores a subclass of it in Hydra's ConfigStore (adding ``_target_`` and the
sampler/pruner defaults); Hydra instantiates the plugin with these fields, and
:meth:`SweeperSettings.from_hydra` turns them back into this class for the core.
"""

# no `from __future__ import annotations`: OmegaConf reads these annotations as types when the
# plugin's subclass becomes a structured config.

import dataclasses
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
    # e.g. ['num_iter=200'] with range_test=auto
    range_test_overrides: list[str] = field(default_factory=list)
    # log10 offsets from the range test's max_lr bound, e.g. [-1.5, -1, -0.5, 0, 0.5]: the lr is
    # searched at these levels (a categorical, for the grid sampler) instead of the bounds' interval
    lr_levels: list[float] = field(default_factory=list)
    # a searched param that holds lr x wd (e.g. lr_x_wd): each job gets wd = it / lr, so a sampler
    # searches along the balance diagonal instead of discovering it
    product_param: str | None = None
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
