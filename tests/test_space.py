"""One meaning per override syntax, whatever the sampler."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution as C
from optuna.distributions import FloatDistribution as F
from optuna.distributions import IntDistribution as I

from sweeper._job import Worker
from sweeper._space import SearchSpaceError, format_value, grid_values, parse
from sweeper._study import WorkerTagged
from sweeper._study import tell as _tell

TABLE = [
    ("interval(0.1, 1)", F(0.1, 1.0)),
    ("interval(1, 5)", F(1.0, 5.0)),  # interval is always float; int(...) makes it integer
    ("tag(log, interval(1e-5, 1e-2))", F(1e-5, 1e-2, log=True)),
    ("int(interval(1, 5))", I(1, 5)),
    ("tag(log, int(interval(1, 64)))", I(1, 64, log=True)),
    ("range(1, 3)", I(1, 2)),  # Python's range: the end is excluded
    ("range(0, 10, 3)", I(0, 9, step=3)),
    ("range(0.1, 0.5, 0.1)", F(0.1, 0.4, step=0.1)),
    ("choice(sgd, adamw)", C(["sgd", "adamw"])),
    ("1e-5,1e-4,1e-3", C([1e-5, 1e-4, 1e-3])),
    ("choice(true, false)", C([True, False])),
]


@pytest.mark.parametrize("text,expected", TABLE)
def test_override_to_distribution(text, expected):
    space, fixed = parse({"p": text})
    assert space == {"p": expected} and fixed == {}


def test_plain_values_are_fixed_not_searched():
    space, fixed = parse({"epochs": "10", "wd": "interval(0, 1)"})
    assert fixed == {"epochs": "10"} and set(space) == {"wd"}


@pytest.mark.parametrize("text", ["range(1, 3)", "choice(1, 2)", "1,2"])
@pytest.mark.parametrize(
    "sampler",
    [
        optuna.samplers.GridSampler,
        optuna.samplers.TPESampler,
        optuna.samplers.RandomSampler,
        optuna.samplers.QMCSampler,
    ],
)
def test_every_sampler_draws_from_the_same_set(text, sampler):
    space, _ = parse({"p": text})
    kwargs = (
        {"search_space": grid_values(space)}
        if sampler is optuna.samplers.GridSampler
        else {"seed": 0}
    )
    storage = optuna.storages.InMemoryStorage()  # the sweeper's own wrapper, as a sweep has it
    tagged = WorkerTagged(sampler(**kwargs), storage, Worker.this())
    study = optuna.create_study(storage=storage, sampler=tagged)
    seen = set()
    for _ in range(12):
        t = study.ask(fixed_distributions=space)
        seen.add(t.params["p"])
        _tell(study, t, [0.0], optuna.trial.TrialState.COMPLETE)
    assert seen <= {1, 2} and seen, f"{sampler.__name__} drew {seen}"


@pytest.mark.parametrize(
    "text,needle",
    [
        ("interval(2, 1)", "low <= high"),
        ("tag(log, interval(0, 1))", "low > 0"),
        ("range(3, 3)", "empty"),
    ],
)
def test_bad_space_is_a_clear_error(text, needle):
    with pytest.raises(SearchSpaceError, match=needle):
        parse({"p": text})


def test_grid_needs_discrete_values():
    with pytest.raises(SearchSpaceError, match="grid sampler needs choice"):
        grid_values(parse({"p": "interval(0, 1)"})[0])


@pytest.mark.parametrize("value", [0.1, 1e-5, 3, True, None, "sgd", "a b"])
def test_formatted_values_parse_back(value):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_override(f"p={format_value(value)}").value()
    assert parsed == value


SAMPLERS = ["tpe", "random", "grid", "cmaes", "gp", "nsgaii", "qmc"]


def make_sampler(name: str, space: dict, seed: int):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from hydra_plugins.supersweep_sweeper import config

    confs = {
        "tpe": config.TPESamplerConf,
        "random": config.RandomSamplerConf,
        "grid": config.GridSamplerConf,
        "cmaes": config.CmaEsSamplerConf,
        "gp": config.GPSamplerConf,
        "nsgaii": config.NSGAIISamplerConf,
        "qmc": config.QMCSamplerConf,
    }
    partial = instantiate(OmegaConf.merge(OmegaConf.structured(confs[name]), {"seed": seed}))
    return partial(search_space=grid_values(space)) if name == "grid" else partial()


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_builds_from_its_config_and_is_seedable(name):
    text = (
        {"lr": "choice(0.01, 0.1, 1.0)", "wd": "choice(0.0, 1e-4)"}
        if name == "grid"
        else {"lr": "tag(log, interval(1e-3, 1))", "wd": "interval(0, 1e-3)"}
    )
    space, _ = parse(text)

    def draws(seed: int) -> list[dict]:
        storage = optuna.storages.InMemoryStorage()
        tagged = WorkerTagged(make_sampler(name, space, seed), storage, Worker.this())
        study = optuna.create_study(storage=storage, sampler=tagged)
        out = []
        for i in range(6):
            t = study.ask(fixed_distributions=space)
            out.append(t.params)
            _tell(study, t, [float(i % 3)], optuna.trial.TrialState.COMPLETE)
        return out

    assert draws(0) == draws(0)


@pytest.mark.parametrize(
    ("product", "expected"),
    [
        (None, {"wd": 1 / (0.2 * 2.4 * 10 * 20)}),  # wd = 1 / (lr x tau x steps)
        ("lr_x_wd", {"lr_x_wd": 1 / (2.4 * 10 * 20)}),  # the product itself
    ],
)
def test_the_first_trials_wd_has_the_prior_decay_timescale(product, expected):
    from omegaconf import OmegaConf

    from sweeper._core import first_decay
    from sweeper._keys import SweepKeys
    from sweeper._search_space import SearchSpace
    from sweeper._seeding import Bounds

    bounds = Bounds(0.05, 0.5, 0.2, "file", "rt.json", "test", steps_per_epoch=10)
    keys = SweepKeys(lr="max_lr", wd="wd", budget="epochs")
    wide = F(1e-9, 1.0, log=True)
    dists = {"wd": wide} if product is None else {"lr_x_wd": wide}
    space = SearchSpace.build(
        dists, keys=keys, bounds=bounds, lr_levels=[], product_param=product, fixed_keys=set()
    )
    task = OmegaConf.create({"epochs": 20, "wd": 1e-4})
    got = first_decay(space, keys, bounds, task, 2.4)
    assert got == pytest.approx(expected)
    narrow = SearchSpace.build(
        {k: F(5e-2, 1e-1, log=True) for k in dists},
        keys=keys, bounds=bounds, lr_levels=[], product_param=product, fixed_keys=set(),
    )  # fmt: skip
    assert list(first_decay(narrow, keys, bounds, task, 2.4).values()) == [pytest.approx(5e-2)]
    assert first_decay(space, keys, bounds, task, None) == {}  # the prior off: the sampler draws
    old = Bounds(0.05, 0.5, 0.2, "file", "rt.json", "test")  # a range test that kept no steps
    assert first_decay(space, keys, bounds=old, task_cfg=task, timescale=2.4) == {}
