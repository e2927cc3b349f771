"""One Hydra job as a picklable callable, for executors that run it in another process.

It does what every Hydra launcher does for a job, through Hydra's public ``hydra.core`` API:
restore the plugin and config-store state of the sweep's process, compose the job's config
from its overrides, number it, and ``run_job`` it into ``hydra.sweep.dir/hydra.sweep.subdir``.
It is a submitit ``Checkpointable``: a job preempted or timed out is resubmitted with the same
overrides, and the run resumes from the checkpoint in its own job dir.
"""

from __future__ import annotations

from typing import Any

import submitit
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, run_job, setup_globals
from omegaconf import DictConfig, open_dict


class HydraJob(submitit.helpers.Checkpointable):
    def __init__(self, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config
        self.state = Singleton.get_state()  # the sweep's plugins and configs, for a fresh process

    def __call__(self, overrides: list[str], number: int) -> JobReturn:
        Singleton.set_state(self.state)
        setup_globals()
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(cfg.hydra.job):
            cfg.hydra.job.id = submitit.JobEnvironment().job_id
            cfg.hydra.job.num = number
        return run_job(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=cfg,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
