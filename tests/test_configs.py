"""Every option of every config group composes and instantiates on tiny shapes."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import get_class, instantiate

from training.checks import ConfigError, check_model_fits_data, check_train_config

from .conftest import CONF_DIR, config_options


def cfg_for(*overrides: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides))


@pytest.mark.parametrize(
    "group", ["data", "model", "optimizer", "schedule", "regularization", "averaging", "wrapper"]
)
def test_group_has_options(group):
    assert config_options(group), f"conf/{group} is empty"


def data_for(model: str) -> str:
    """A dataset whose dimensionality fits ``model``."""
    dims = get_class(cfg_for(f"model={model}").model._target_).spatial_dims
    return {1: "mnist1d", 2: "digits", None: "digits"}[dims]


@pytest.mark.parametrize("model", config_options("model"))
def test_every_model_instantiates_and_runs_forward(model):
    cfg = cfg_for(f"model={model}", f"data={data_for(model)}")
    check_train_config(cfg)
    net = instantiate(cfg.model)
    out = net(torch.zeros(3, *cfg.data.input_shape))
    assert out.shape == (3, cfg.data.num_classes)


@pytest.mark.parametrize("data", config_options("data"))
def test_every_dataset_config_fits_mlp_and_its_own_kind_of_model(data):
    for model in ("mlp", "cnn1d" if data == "mnist1d" else "resnet20"):
        cfg = cfg_for(f"data={data}", f"model={model}")
        check_train_config(cfg)
        net = instantiate(cfg.model)
        assert net(torch.randn(2, *cfg.data.input_shape)).shape == (2, cfg.data.num_classes)


@pytest.mark.parametrize("optimizer", config_options("optimizer"))
@pytest.mark.parametrize("regularization", config_options("regularization"))
def test_every_optimizer_and_regularization_builds(optimizer, regularization):
    cfg = cfg_for(f"optimizer={optimizer}", f"regularization={regularization}", "wd=1e-3")
    net = instantiate(cfg.model)
    wd = instantiate(cfg.regularization.weight_decay)
    opt = instantiate(cfg.optimizer)(wd.param_groups(net))
    assert all(g["weight_decay"] == 0 for g in opt.param_groups), (
        "decay comes from regularization/, not the optimizer"
    )
    assert wd.decoupled == (regularization == "decoupled")
    decayed = [p for g in opt.param_groups if g["decay"] for p in g["params"]]
    assert decayed and all(p.ndim > 1 for p in decayed), (
        "norm and bias parameters are not decayed by default"
    )


@pytest.mark.parametrize("schedule", config_options("schedule"))
def test_every_schedule_config_builds(schedule):
    cfg = cfg_for(f"schedule={schedule}")
    sched = instantiate(cfg.schedule)(total_steps=50, steps_per_epoch=5)
    assert sched(0)[0] > 0


@pytest.mark.parametrize(
    "model,data",
    [
        ("cnn1d", "digits"),
        ("resnet20", "mnist1d"),
        ("lenet5", "mnist1d"),
        ("wrn", "mnist1d"),
        ("cnn1d", "cifar10"),
    ],
)
def test_senseless_model_data_pairs_fail_from_config(model, data):
    cfg = cfg_for(f"model={model}", f"data={data}")
    with pytest.raises(ConfigError, match=r"model \(.*\) takes .* but data=" + data):
        check_model_fits_data(cfg.model, cfg.data)


@pytest.mark.parametrize("experiment", config_options("experiment"))
def test_every_experiment_preset_composes_checks_and_states_its_source(experiment):
    cfg = cfg_for(f"experiment={experiment}")
    check_train_config(cfg)
    assert 0 < cfg.expected.test_acc <= 1 and cfg.expected.source
    assert instantiate(cfg.model) is not None


@pytest.mark.parametrize("wrapper", config_options("wrapper"))
@pytest.mark.parametrize("averaging", config_options("averaging"))
def test_every_wrapper_and_averaging_option_builds(wrapper, averaging):
    cfg = cfg_for(f"wrapper={wrapper}", f"averaging={averaging}")
    check_train_config(cfg)
    net = instantiate(cfg.model)
    opt = instantiate(cfg.wrapper)(
        instantiate(cfg.optimizer)(instantiate(cfg.regularization.weight_decay).param_groups(net))
    )
    assert opt.param_groups and callable(opt.step)
    avg = instantiate(cfg.averaging)(net)
    assert avg.evaluated() is net or averaging != "none"
