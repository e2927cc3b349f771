"""The compose cache gives the configs Hydra composes itself, job by job."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from sweeper._compose import CachedConfigLoader, _template

from .conftest import ROOT

FIRST = ["max_lr=0.1", "wd=1e-4", "+trial.number=0", "+trial.study=s", "hydra.sweep.subdir=0"]


@pytest.fixture(scope="module")
def loader_and_master():
    GlobalHydra.instance().clear()
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(ROOT / "conf")))
    master = loader.load_configuration(
        "train",
        ["hydra/sweeper=supersweep", "epochs=3", "hydra.sweep.dir=/tmp/x"],
        RunMode.MULTIRUN,
    )
    return loader, master


def both(loader, master, overrides):
    return CachedConfigLoader(loader), loader.load_sweep_config(master, list(overrides))


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (
            FIRST,
            [
                "max_lr=0.37",
                "wd=0.003",
                "+trial.number=7",
                "+trial.study=s",
                "hydra.sweep.subdir=7",
            ],
        ),
        (
            ["model=mlp", "max_lr=0.2", "schedule.pct_start=0.3"],
            ["model=mlp", "max_lr=1", "schedule.pct_start=0.45"],
        ),  # an int into a float
        (
            ["data.val_split=0.2", "objective=best_val_loss", "warmup_epochs=0"],
            ["data.val_split=0.25", "objective=final_val_acc", "warmup_epochs=1"],
        ),
        (
            ["model=mlp", "max_lr=0.2"],
            ["model=cnn1d", "max_lr=0.3"],
        ),  # another group choice: another shape, composed by Hydra
        (["epochs=1", "max_lr=0.2"], ["max_lr=0.2"]),  # fewer keys: another shape
        (["+extra=1", "max_lr=0.2"], ["+extra=2", "max_lr=0.5"]),
    ],
)
def test_cached_configs_equal_hydras_own(loader_and_master, first, then):
    loader, master = loader_and_master
    cached = CachedConfigLoader(loader)
    assert OmegaConf.to_container(
        cached.load_sweep_config(master, first)
    ) == OmegaConf.to_container(loader.load_sweep_config(master, first))
    got, want = cached.load_sweep_config(master, then), loader.load_sweep_config(master, then)
    want.hydra.runtime.cwd = got.hydra.runtime.cwd
    assert OmegaConf.to_container(got) == OmegaConf.to_container(want)
    task = lambda c: OmegaConf.to_container(
        OmegaConf.masked_copy(c, [k for k in c if k != "hydra"]), resolve=True
    )  # noqa: E731
    assert task(got) == task(want)


def test_a_job_of_a_known_shape_is_not_composed_again(loader_and_master, monkeypatch):
    loader, master = loader_and_master
    cached = CachedConfigLoader(loader)
    cached.load_sweep_config(master, FIRST)
    monkeypatch.setattr(loader, "load_sweep_config", lambda *a: pytest.fail("composed again"))
    cfg = cached.load_sweep_config(master, [o.replace("0.1", "0.2") for o in FIRST])
    assert cfg.max_lr == 0.2 and cfg.trial.number == 0
    again = cached.load_sweep_config(master, [o.replace("0.1", "0.3") for o in FIRST])
    assert again.max_lr == 0.3 and cfg.max_lr == 0.2, "each job gets its own copy"


@dataclass
class _Typed:
    a: int = 1


def test_a_config_pickle_cannot_name_is_deep_copied_instead(monkeypatch):
    """Hydra's plugin scan can import a plugin's config class twice (the joblib launcher's):
    pickle then refuses the config, and the cache falls back to copying it."""
    cfg = OmegaConf.create({"hydra": OmegaConf.structured(_Typed), "x": 1})
    monkeypatch.setattr(
        sys.modules[__name__], "_Typed", type("_Typed", (), {})
    )  # the name now means another class
    template = _template(cfg)
    assert not isinstance(template, bytes) and template == cfg and template is not cfg


def test_a_secret_behind_oc_env_stays_a_placeholder_in_every_job(monkeypatch):
    """The storage given as ${oc.env:VAR} must reach no job's .hydra/hydra.yaml resolved (issue 13)."""
    monkeypatch.setenv("SS_SECRET_DB", "postgresql://u:hunter2@127.0.0.1/db")
    GlobalHydra.instance().clear()
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(ROOT / "conf")))
    master = loader.load_configuration(
        "train",
        ["hydra/sweeper=supersweep", "hydra.sweeper.storage=${oc.env:SS_SECRET_DB}"],
        RunMode.MULTIRUN,
    )
    cached = CachedConfigLoader(loader)
    for job in (FIRST, [o.replace("0.1", "0.2") for o in FIRST]):  # the second comes from the cache
        cfg = cached.load_sweep_config(master, job)
        hydra_yaml = OmegaConf.to_yaml(OmegaConf.to_container(cfg.hydra, resolve=False))
        assert "hunter2" not in hydra_yaml and "${oc.env:SS_SECRET_DB}" in hydra_yaml
