"""Hydra's BasicLauncher without copying a job's config.

``hydra.core.utils.run_job`` copies the ``hydra`` node (the bulk of a config: help texts,
logging, launcher and sweeper settings; ~8 ms a copy here, more than a no-op trial's own
work) four times per job: two ``HydraConfig.set_config`` calls, a deep copy of the whole
config to cut ``hydra`` off for the task, and one more for the ``JobReturn``. Every job
config this launcher gets is its own (a fresh compose, or the compose cache's copy), so it
runs the same steps in the same order - job dir, chdir when ``hydra.job.chdir``, job
logging, the three ``.hydra/*.yaml`` files, ``env_set``, callbacks, ``JobReturn`` - with
``HydraConfig`` holding that config itself, the task's config copied without the ``hydra``
node, and the YAML emitted by libyaml. One difference: ``JobReturn.hydra_cfg`` is the
job's whole config, not a copy holding only its ``hydra`` node. tests/test_launch.py checks
the job dirs, files and returns against BasicLauncher's.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import yaml
from hydra import version
from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobRuntime, JobStatus, _flush_loggers, configure_log, env_override, filter_overrides, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict, read_write
from omegaconf._utils import get_omega_conf_dumper

log = logging.getLogger("hydra._internal.core_plugins.basic_launcher")  # its log lines, under its name


class LeanLauncher(BasicLauncher):
    @classmethod
    def like(cls, basic: BasicLauncher) -> LeanLauncher:
        lean = cls()
        lean.setup(hydra_context=basic.hydra_context, task_function=basic.task_function, config=basic.config)
        return lean

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs locally")
        runs = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(config):
                config.hydra.job.id = idx
                config.hydra.job.num = idx
            runs.append(run_job(self.hydra_context, self.task_function, config))
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return runs


def run_job(hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> JobReturn:
    """``hydra.core.utils.run_job(..., job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")``
    for a ``config`` this job owns (a fresh compose, or the compose cache's copy)."""
    old_cwd, hydra_config = os.getcwd(), HydraConfig.instance()
    orig_hydra_cfg = hydra_config.cfg
    # set_config would copy the hydra node; HydraConfig.get() (and ${hydra:...}) read cfg.hydra, and this job owns config
    OmegaConf.set_readonly(config.hydra, True)
    hydra_config.cfg = config
    output_dir = os.path.join(str(OmegaConf.select(config, "hydra.sweep.dir")), str(OmegaConf.select(config, "hydra.sweep.subdir")))
    with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
        config.hydra.runtime.output_dir = os.path.abspath(output_dir)
    chdir = False
    try:
        ret = JobReturn()
        ret.cfg = task_cfg = _without_hydra(config)
        ret.hydra_cfg = config  # Hydra's holds only the hydra node, a copy; ours holds it in the job's whole config
        ret.overrides = OmegaConf.to_container(config.hydra.overrides.task)
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        chdir = config.hydra.job.chdir
        if chdir is None:  # as Hydra reads it: unset means chdir only for apps on version_base < 1.2
            chdir = not version.base_at_least("1.2")
        if chdir:
            os.chdir(output_dir)
        ret.working_dir = output_dir if chdir else os.getcwd()
        configure_log(config.hydra.job_logging, config.hydra.verbose)
        if config.hydra.output_subdir is not None:
            out = Path(config.hydra.runtime.output_dir) / Path(config.hydra.output_subdir)
            out.mkdir(parents=True, exist_ok=True)
            for name, node in (("config.yaml", task_cfg), ("hydra.yaml", {"hydra": config.hydra}), ("overrides.yaml", config.hydra.overrides.task)):
                (out / name).write_text(to_yaml(node), encoding="utf-8")
        with env_override(config.hydra.job.env_set):
            hydra_context.callbacks.on_job_start(config=config, task_function=task_function)
            try:
                ret.return_value = task_function(task_cfg)
                ret.status = JobStatus.COMPLETED
            except Exception as e:
                ret.return_value = e
                ret.status = JobStatus.FAILED
        ret.task_name = JobRuntime.instance().get("name")
        _flush_loggers()
        hydra_context.callbacks.on_job_end(config=config, job_return=ret)
        return ret
    finally:
        hydra_config.cfg = orig_hydra_cfg
        if chdir:
            os.chdir(old_cwd)


class _Dumper(getattr(yaml, "CDumper", yaml.Dumper)):  # type: ignore[misc]
    """OmegaConf's YAML dumper (strings that would load as numbers or bools are quoted) on
    libyaml's emitter: the same text as ``OmegaConf.to_yaml``, ~3x faster on ``hydra.yaml``."""


_Dumper.add_representer(str, get_omega_conf_dumper().str_representer)


def to_yaml(cfg: DictConfig | ListConfig | dict[str, DictConfig]) -> str:
    """``OmegaConf.to_yaml(cfg)``; a dict of configs dumps as the config holding them would."""
    plain = lambda c: OmegaConf.to_container(c, enum_to_str=True)  # noqa: E731
    container = {k: plain(v) for k, v in cfg.items()} if isinstance(cfg, dict) else plain(cfg)
    return yaml.dump(container, Dumper=_Dumper, default_flow_style=False, allow_unicode=True, sort_keys=False)


def _without_hydra(config: DictConfig) -> DictConfig:
    """A deep copy of ``config`` minus its ``hydra`` node, without copying that node: the memo
    hands the node itself to the copy, which then drops it."""
    hydra_node = config._get_node("hydra")
    task_cfg = copy.deepcopy(config, memo={id(hydra_node): hydra_node})
    hydra_node._set_parent(config)  # the copy claimed it for a moment
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    return task_cfg
