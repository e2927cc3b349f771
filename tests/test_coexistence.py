"""The supersweep sweeper lives beside hydra-optuna-sweeper: both register configs in Hydra's one
ConfigStore, and ours are under names of our own (``hydra/sweeper/supersweep_sampler``,
``.../supersweep_pruner``), so each sweeper composes and runs with its own sampler config.

hydra-optuna-sweeper pins an old Optuna; it is installed without its dependencies into a temp
dir (as a user with both would have it) and put on the jobs' path."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from optuna.trial import TrialState

from .test_sweeper import TINY, env, load, sweep

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def optuna_plugin(tmp_path_factory) -> str:
    target = tmp_path_factory.mktemp("hydra_optuna_sweeper")
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            "hydra-optuna-sweeper",
        ],
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        pytest.fail(
            f"could not install hydra-optuna-sweeper from the package registry: {p.stderr[-500:]}"
        )
    return str(target)


def with_plugin(path: str) -> dict:
    e = env()
    e["PYTHONPATH"] = f"{e['PYTHONPATH']}:{path}"
    return e


def test_both_sweepers_compose_and_run_their_own_sampler(tmp_path, optuna_plugin):
    theirs = [
        sys.executable, TINY, "-m", "hydra/sweeper=optuna", "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=1", "hydra.sweeper.n_trials=3", "x=interval(0, 1)",
        f"hydra.sweep.dir={tmp_path / 'theirs'}",
    ]  # fmt: skip
    p = subprocess.run(
        theirs,
        cwd=tmp_path,
        env=with_plugin(optuna_plugin),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    results = yaml.safe_load((tmp_path / "theirs" / "optimization_results.yaml").read_text())
    assert results["name"] == "optuna" and 0 <= results["best_params"]["x"] <= 1

    cfg = subprocess.run(
        [*theirs[:2], "hydra/sweeper=optuna", "--cfg", "hydra", "--package", "hydra.sweeper.sampler"],
        cwd=tmp_path, env=with_plugin(optuna_plugin), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "optuna.samplers.TPESampler" in cfg.stdout and "_partial_" not in cfg.stdout, cfg.stdout

    ours = sweep(
        tmp_path,
        "hydra/sweeper/supersweep_sampler=random",
        "hydra.sweeper.sampler.seed=1",
        "hydra.sweeper.n_trials=3",
        "x=interval(0, 1)",
        env_=with_plugin(optuna_plugin),
    )
    assert ours.returncode == 0, ours.stderr[-2000:]
    trials = load(tmp_path).get_trials()
    assert len(trials) == 3 and all(t.state == TrialState.COMPLETE for t in trials)
    assert (tmp_path / "sweep" / "optimization_results.yaml").is_file()
