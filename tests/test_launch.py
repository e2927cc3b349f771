"""The lean launcher runs the jobs Hydra's BasicLauncher runs: same dirs, files, returns."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra._internal.callbacks import Callbacks
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra._internal.utils import create_config_search_path
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobStatus
from hydra.types import HydraContext, RunMode
from omegaconf import OmegaConf, open_dict

from sweeper.compose import CachedConfigLoader
from sweeper.launch import LeanLauncher

from .conftest import ROOT

JOBS = [
    ["x=0.1", "y=2", "hydra.sweep.subdir=0"],
    ["x=0.7", "y=3", "hydra.sweep.subdir=a/1"],
    ["x=3.0", "hydra.sweep.subdir=n${hydra:job.num}"],  # read from this job's own Hydra config
]


def task(cfg):
    """What a job sees: its config, Hydra's view of it, cwd, an env_set variable; x > 2 raises."""
    if cfg.x > 2:
        raise ValueError(f"x={cfg.x} is too big")
    hc = HydraConfig.get()
    return {"cfg": OmegaConf.to_container(cfg), "out": hc.runtime.output_dir, "num": hc.job.num, "cwd": os.getcwd(), "env": os.environ.get("SS_ENV")}


def launch(launcher_cls, loader_cls, sweep_dir: Path, chdir: bool) -> list:
    GlobalHydra.instance().clear()
    loader = loader_cls(ConfigLoaderImpl(config_search_path=create_config_search_path(str(ROOT / "tests" / "apps"))))
    overrides = [f"hydra.sweep.dir={sweep_dir}", "hydra.job.name=tiny", f"hydra.job.chdir={chdir}", "+hydra.job.env_set.SS_ENV=on"]
    master = loader.load_configuration("tiny", overrides, RunMode.MULTIRUN)
    HydraConfig.instance().set_config(master)
    launcher = launcher_cls()
    launcher.setup(hydra_context=HydraContext(config_loader=loader, callbacks=Callbacks(master)), task_function=task, config=master)
    return launcher.launch(JOBS, initial_job_idx=5)


def files(sweep_dir: Path) -> dict[str, str]:
    return {str(p.relative_to(sweep_dir)): p.read_text().replace(str(sweep_dir), "SWEEP") for p in sorted(sweep_dir.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("chdir", [False, True])
@pytest.mark.parametrize("loader_cls", [lambda inner: inner, CachedConfigLoader], ids=["hydra_loader", "compose_cache"])
def test_lean_launcher_runs_the_jobs_basic_launcher_runs(tmp_path, chdir, loader_cls):
    cwd = os.getcwd()
    basic = launch(BasicLauncher, loader_cls, tmp_path / "basic", chdir)
    lean = launch(LeanLauncher, loader_cls, tmp_path / "lean", chdir)
    assert os.getcwd() == cwd and os.environ.get("SS_ENV") is None

    b_files, l_files = files(tmp_path / "basic"), files(tmp_path / "lean")
    assert sorted(l_files) == sorted(b_files) and {"0/.hydra/hydra.yaml", "a/1/.hydra/config.yaml", "n7/tiny.log"} <= set(l_files)
    assert l_files == b_files

    swap = lambda v: str(v).replace(str(tmp_path / "basic"), str(tmp_path / "lean"))  # noqa: E731
    for b, ln in zip(basic, lean, strict=True):
        assert ln.status == b.status and ln.overrides == b.overrides and ln.task_name == b.task_name
        assert swap(b.working_dir) == ln.working_dir
        assert OmegaConf.to_container(ln.cfg) == OmegaConf.to_container(b.cfg) and "hydra" not in ln.cfg
        assert swap(OmegaConf.to_yaml(b.hydra_cfg.hydra)) == OmegaConf.to_yaml(ln.hydra_cfg.hydra)
        if b.status == JobStatus.COMPLETED:
            want = {k: swap(v) if k in ("out", "cwd") else v for k, v in b.return_value.items()}
            assert ln.return_value == want and ln.return_value["env"] == "on"
            assert ln.return_value["cwd"] == (ln.return_value["out"] if chdir else cwd)
        else:
            assert type(ln._return_value) is type(b._return_value) is ValueError
    assert [r.return_value["num"] for r in lean[:2]] == [5, 6]


def test_yaml_files_read_as_omegaconf_writes_them():
    from sweeper.launch import to_yaml

    GlobalHydra.instance().clear()
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(ROOT / "conf")))
    cfg = loader.load_configuration("train", ["hydra/sweeper=supersweep", "sweep=lr_wd"], RunMode.MULTIRUN)  # help texts, lists, ${...}
    odd = {"num": "1e-3", "flag": "true", "int": "7", "uni": "lr × wd → ünï", "long": "word " * 40, "multi": "a\n  b\n", "empty": "", "none": None}
    with open_dict(cfg):
        cfg.odd = odd
    assert to_yaml(cfg) == OmegaConf.to_yaml(cfg)
    assert OmegaConf.create(to_yaml(cfg)).odd == odd
