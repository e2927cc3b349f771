"""Hydra's own test utilities (``hydra.test_utils``) on the plugin, in this process: discovery,
and sweeps through Hydra's ``multirun`` on Hydra's own test app (``hydra.test_utils.a_module``
with ``configs/compose.yaml``), as Hydra's plugins test themselves. Hydra's launcher and batched
sweeper suites assume a sweeper that returns each batch's results and walks a fixed list of
overrides; a search that asks Optuna for its next trial does neither, so those suites do not
apply. Each sweep here is checked against the study it left."""

from __future__ import annotations

import optuna
import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from optuna.trial import TrialState

from hydra_plugins.supersweep_sweeper.supersweep_sweeper import SupersweepSweeper

pytestmark = pytest.mark.usefixtures("hydra_restore_singletons")


def test_discovery() -> None:
    assert SupersweepSweeper.__name__ in [x.__name__ for x in Plugins.instance().discover(Sweeper)]


def run(hydra_sweep_runner, tmp_path, *overrides: str, task=None):
    db = f"sqlite:///{tmp_path / 'optuna.db'}"
    sweep = hydra_sweep_runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=task,
        config_path="configs",
        config_name="compose.yaml",
        overrides=[
            "hydra/sweeper=supersweep",
            "hydra/launcher=basic",
            f"hydra.sweeper.storage={db}",
            "hydra.sweeper.study_name=suite",
            *overrides,
        ],
        temp_dir=str(tmp_path / "sweep"),
    )
    with sweep:  # the runner removes the sweep dir when the block ends
        assert sweep.returns is None  # a sweeper's multirun returns nothing (the study holds it)
        dirs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    return optuna.load_study(study_name="suite", storage=db), dirs


def test_launch_jobs(hydra_sweep_runner, tmp_path) -> None:
    study, dirs = run(
        hydra_sweep_runner, tmp_path, "hydra.sweeper.n_trials=8", "hydra.sweeper.n_jobs=3"
    )
    trials = study.get_trials()
    assert len(trials) == 8 and all(
        t.state == TrialState.COMPLETE and t.value == 100 for t in trials
    )
    assert dirs == [str(n) for n in sorted(range(8), key=str)]


def test_grid_over_a_group_and_a_value_runs_each_cell_once_in_its_own_dir(
    hydra_sweep_runner, tmp_path
) -> None:
    seen = []

    def task(cfg):
        seen.append((cfg.foo, cfg.bar))
        return cfg.foo + cfg.bar

    study, dirs = run(
        hydra_sweep_runner,
        tmp_path,
        "hydra/sweeper/supersweep_sampler=grid",
        "hydra.sweeper.n_trials=100",
        "hydra.sweeper.n_jobs=2",
        "group1=file1,file2",
        "bar=100,200",
        task=task,
    )
    assert sorted(seen) == [(10, 100), (10, 200), (20, 100), (20, 200)]
    assert sorted(t.value for t in study.get_trials()) == [110, 120, 210, 220]
    assert dirs == ["0", "1", "2", "3"]
