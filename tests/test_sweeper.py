"""The supersweep sweeper end to end on a tiny task, cross-checked with optuna.load_study."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from sweeper import redact

from .conftest import ROOT

# every test here runs sweeps as subprocesses (seconds each): the quick tier has their in-process
# counterparts (test_loop.py: the loop with a fake pool; test_hydra_suite.py: Hydra's multirun)
pytestmark = pytest.mark.slow

TINY = str(ROOT / "tests" / "apps" / "tiny.py")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def tiny_args(tmp: Path, *args: str, study: str = "s") -> list[str]:
    return [
        sys.executable,
        TINY,
        "-m",
        "hydra/sweeper=supersweep",
        f"hydra.sweeper.storage=sqlite:///{tmp / 'optuna.db'}",
        f"hydra.sweeper.study_name={study}",
        f"hydra.sweep.dir={tmp / 'sweep'}",
        *args,
    ]


def sweep(
    tmp: Path, *args: str, study: str = "s", timeout: int = 300, env_: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        tiny_args(tmp, *args, study=study),
        cwd=tmp,
        env=env_ or env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def load(tmp: Path, study: str = "s") -> optuna.Study:
    return optuna.load_study(study_name=study, storage=f"sqlite:///{tmp / 'optuna.db'}")


def test_plugin_is_discovered_by_hydra():
    names = [c.__name__ for c in Plugins.instance().discover(Sweeper)]
    assert "SupersweepSweeper" in names


def test_sweep_runs_and_results_match_the_study(tmp_path):
    p = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=6",
        "hydra/sweeper/supersweep_sampler=random",
        "hydra.sweeper.sampler.seed=0",
        "x=interval(0, 1)",
        "y=1,2",
    )
    assert p.returncode == 0, p.stderr
    study = load(tmp_path)
    trials = study.get_trials()
    assert len(trials) == 6 and all(t.state == TrialState.COMPLETE for t in trials)
    assert isinstance(trials[0].distributions["x"], FloatDistribution)
    results = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    assert (
        results["best_value"] == pytest.approx(study.best_value)
        and results["best_params"] == study.best_params
    )
    assert results["best_trial"]["replay"] == f"python {TINY} " + " ".join(
        study.best_trial.user_attrs["overrides"]
    )
    for t in trials:  # one job dir per trial, named by its number, holding that trial's params
        assert json.loads((tmp_path / "sweep" / str(t.number) / "params.json").read_text())[
            "x"
        ] == pytest.approx(t.params["x"])


def write_range_test(tmp: Path) -> Path:
    """A range_test.json with bounds [0.05, 0.6] and suggestion 0.2."""
    rt = tmp / "rt"
    rt.mkdir()
    n = 30
    result = {
        "lrs": [0.1] * n,
        "losses": [1.0] * n,
        "smoothed_losses": [1.0] * n,
        "suggestions": {},
        "diverged_at": None,
        "num_iter": n,
        "bounds": {"min_lr": 0.05, "max_lr": 0.6, "rule": "test"},
        "suggested_max_lr": 0.2,
    }
    (rt / "range_test.json").write_text(json.dumps(result))
    return rt


def test_range_test_bounds_seed_the_space_and_the_first_trial(tmp_path):
    rt = write_range_test(tmp_path)
    p = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=3",
        f"hydra.sweeper.space.range_test={rt}",
        "sweep_keys.lr=x",
    )
    assert p.returncode == 0, p.stderr
    study = load(tmp_path)
    first = study.get_trials()[0]
    assert (
        first.params["x"] == pytest.approx(0.2)
        and first.user_attrs["enqueued_from"] == "range test suggestion"
    )
    assert first.distributions["x"] == FloatDistribution(0.05, 0.6, log=True)
    assert study.user_attrs["bounds"]["source"] == "file" and study.user_attrs["bounds"][
        "path"
    ] == str(rt)
    assert (
        yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())["bounds"][
            "min_lr"
        ]
        == 0.05
    )


def test_resumed_study_reuses_its_stored_bounds(tmp_path):
    test_range_test_bounds_seed_the_space_and_the_first_trial(tmp_path)
    p = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=5",
        f"hydra.sweeper.space.range_test={tmp_path / 'gone'}",
        "sweep_keys.lr=x",
    )
    assert p.returncode == 0, p.stderr  # the range test is not read (nor rerun) on resume
    trials = load(tmp_path).get_trials()
    assert len(trials) == 5 and all(
        t.distributions["x"] == FloatDistribution(0.05, 0.6, log=True) for t in trials
    )


def test_lr_levels_grid_reaches_below_and_above_the_range_test_bounds(tmp_path):
    rt = write_range_test(tmp_path)
    p = sweep(
        tmp_path,
        f"hydra.sweeper.space.range_test={rt}",
        "sweep_keys.lr=x",
        "hydra.sweeper.space.lr_levels=[-1.5,0,0.5]",
        "hydra/sweeper/supersweep_sampler=grid",
        "hydra.sweeper.n_trials=100",
        "y=choice(1, 2)",
    )
    assert p.returncode == 0, p.stderr
    trials = load(tmp_path).get_trials()
    assert len(trials) == 6, "3 levels x 2 values of y, each once; the grid ends the study"
    assert sorted({t.params["x"] for t in trials}) == [
        0.019,
        0.6,
        1.9,
    ]  # 0.6 x 10^(-1.5, 0, 0.5), 3 significant digits
    assert "enqueued_from" not in trials[0].user_attrs, (
        "the suggestion is not a level: not enqueued"
    )


def test_lr_levels_without_a_range_test_is_one_line_error(tmp_path):
    p = sweep(tmp_path, "hydra.sweeper.space.lr_levels=[-1,0]", "x=interval(0.1, 1)")
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].startswith(
        "error: hydra.sweeper.space.lr_levels are offsets from a range test"
    )


def test_product_param_searches_lr_times_wd_and_jobs_get_wd(tmp_path):
    p = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=4",
        "sweep_keys.lr=x",
        "hydra.sweeper.space.product_param=lr_x_wd",
        "x=tag(log, interval(0.1, 1))",
        "lr_x_wd=tag(log, interval(1e-4, 1e-2))",
    )
    assert p.returncode == 0, p.stderr
    for t in load(tmp_path).get_trials():
        job = json.loads((tmp_path / "sweep" / str(t.number) / "params.json").read_text())
        assert set(t.params) == {"x", "lr_x_wd"} and job["wd"] == pytest.approx(
            t.params["lr_x_wd"] / t.params["x"]
        )
        assert (
            t.user_attrs["derived_params"]["wd"] == pytest.approx(job["wd"])
            and "wd=" in t.user_attrs["replay"]
        )
    bad = tmp_path / "bad"
    bad.mkdir()
    p = sweep(bad, "hydra.sweeper.space.product_param=lr_x_wd", "x=interval(0.1, 1)")
    assert p.returncode == 2 and "needs both lr_x_wd and max_lr searched" in p.stderr


def test_explicit_user_bounds_win_over_the_range_test(tmp_path):
    p = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=2",
        f"hydra.sweeper.space.range_test={tmp_path / 'missing'}",
        "sweep_keys.lr=x",
        "x=interval(0.2, 0.4)",
    )
    assert p.returncode == 0, p.stderr  # the missing file is never read
    study = load(tmp_path)
    assert study.user_attrs["bounds"]["source"] == "user"
    assert all(0.2 <= t.params["x"] <= 0.4 for t in study.get_trials())


def test_nan_and_raising_trials_do_not_stop_the_sweep(tmp_path):
    p = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=10",
        "hydra/sweeper/supersweep_sampler=grid",
        "x=choice(0.0, 0.5, 1.0)",
        "y=range(1, 4)",
        "nan_below=0.1",
        "raise_above=0.9",
        "hydra.sweeper.faults.max_failure_rate=1.0",
    )
    assert p.returncode == 0, p.stderr
    trials = load(tmp_path).get_trials()
    assert len(trials) == 9, "the grid has 3 x 3 points (range end excluded)"
    by_x = {x: [t for t in trials if t.params["x"] == x] for x in (0.0, 0.5, 1.0)}
    assert all(
        t.state == TrialState.FAIL and "not finite" in t.user_attrs["reason"] for t in by_x[0.0]
    )
    assert all(
        t.state == TrialState.FAIL and "RuntimeError" in t.user_attrs["reason"] for t in by_x[1.0]
    )
    assert all(t.state == TrialState.COMPLETE for t in by_x[0.5])
    assert sorted({t.params["y"] for t in trials}) == [1, 2, 3]


def test_failure_rate_stops_the_sweep_with_a_clear_message_and_nothing_running(tmp_path):
    p = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=10",
        "x=interval(1.0, 2.0)",
        "raise_above=0.5",
        "hydra.sweeper.faults.max_failure_rate=0.5",
    )
    assert p.returncode == 2
    assert "max_failure_rate" in p.stderr.strip().splitlines()[-1]
    trials = load(tmp_path).get_trials()
    assert len(trials) == 1 and trials[0].state == TrialState.FAIL


def test_pruning_stops_losing_trials_early(tmp_path):
    p = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=12",
        "hydra/sweeper/supersweep_pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=3",
        "hydra.sweeper.pruner.n_warmup_steps=0",
        "hydra/sweeper/supersweep_sampler=random",
        "hydra.sweeper.sampler.seed=1",
        "x=interval(-1, 1)",
        "epochs=10",
    )
    assert p.returncode == 0, p.stderr
    trials = load(tmp_path).get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, "some losing trial was pruned"
    for t in pruned:
        assert len(t.intermediate_values) < 10, "a pruned trial stopped before its last epoch"
        assert t.value == pytest.approx(t.intermediate_values[max(t.intermediate_values)]), (
            "recorded with its last value"
        )
        assert (
            json.loads((Path(t.user_attrs["job_dir"]) / "summary.json").read_text())["status"]
            == "pruned"
        )
    assert all(len(t.intermediate_values) == 10 for t in trials if t.state == TrialState.COMPLETE)


def test_rungs_train_short_complete_runs_and_only_survivors_train_the_full_run(tmp_path):
    p = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=10",
        "hydra.sweeper.n_jobs=2",
        "hydra/sweeper/supersweep_scheduler=rungs",
        "hydra.sweeper.scheduler.rungs=[1,3]",
        "epochs=9",
        "hydra/sweeper/supersweep_pruner=successive_halving",
        "hydra.sweeper.pruner.min_resource=1",
        "hydra/sweeper/supersweep_sampler=random",
        "hydra.sweeper.sampler.seed=0",
        "x=interval(-1, 1)",
    )
    assert p.returncode == 0, p.stderr
    trials = load(tmp_path).get_trials()
    assert len(trials) == 10 and all(
        t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials
    )
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and complete
    for t in (
        trials
    ):  # each rung is its own complete run, in its own job dir, reported at step = its epochs
        steps = sorted(t.intermediate_values)
        assert steps in ([1], [1, 3])
        runs = steps + [9] * (t.state == TrialState.COMPLETE)
        assert t.user_attrs["epochs_total"] == sum(runs)
        for e in runs:
            job = tmp_path / "sweep" / (str(t.number) if e == 9 else f"{t.number}-epochs{e}")
            assert json.loads((job / "summary.json").read_text())["epochs"] == e
            if e < 9:  # the short run's own result is what the pruner saw
                assert t.intermediate_values[e] == pytest.approx(
                    json.loads((job / "summary.json").read_text())["value"]
                )
    for t in pruned:
        assert (
            t.value == pytest.approx(t.intermediate_values[max(t.intermediate_values)])
            and "run (" in t.user_attrs["reason"]
        )
    for t in complete:
        assert sorted(t.intermediate_values) == [1, 3] and t.user_attrs["job_dir"].endswith(
            f"sweep/{t.number}"
        )
    assert "epochs=1" not in " ".join(load(tmp_path).best_trial.user_attrs["overrides"]), (
        "the replay is the full run"
    )
    assert all("heartbeat" in t.user_attrs for t in trials), (
        "rung runs heartbeat (a resume on another host sees them alive)"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hydra/sweeper/supersweep_scheduler=rungs"], "needs a pruner"),
        (
            [
                "hydra/sweeper/supersweep_scheduler=rungs",
                "hydra.sweeper.scheduler.rungs=[3,1]",
                "hydra/sweeper/supersweep_pruner=median",
            ],
            "increasing ints >= 1",
        ),
        (
            [
                "hydra/sweeper/supersweep_scheduler=rungs",
                "hydra.sweeper.scheduler.rungs=[0,3]",
                "hydra/sweeper/supersweep_pruner=median",
            ],
            "increasing ints >= 1",
        ),
        (
            [
                "hydra/sweeper/supersweep_scheduler=rungs",
                "hydra.sweeper.scheduler.rungs=[1]",
                "hydra/sweeper/supersweep_pruner=median",
                "epochs=range(5,9)",
            ],
            "sweep_keys.budget='epochs' must name a fixed int",
        ),
        (
            [
                "hydra/sweeper/supersweep_scheduler=rungs",
                "hydra.sweeper.scheduler.rungs=[1]",
                "hydra/sweeper/supersweep_pruner=median",
                "+hydra.sweeper.objectives={value: minimize, y: minimize}",
            ],
            "single objective",
        ),
    ],
)
def test_bad_rungs_are_one_line_errors_before_any_trial(tmp_path, args, message):
    p = sweep(tmp_path, "x=interval(0, 1)", "epochs=9", *args)
    assert p.returncode == 2 and message in p.stderr.strip().splitlines()[-1], p.stderr
    assert not (tmp_path / "sweep" / "0").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["y=tag(log, range(32, 256, 32))"], "error: y: range() takes no tags (got ['log'])"),
        (
            ["hydra.sweeper.storage=foo://bar"],
            "error: the study storage foo://bar cannot be used (NoSuchModuleError",
        ),
        (
            ["hydra.sweeper.storage=${oc.env:SS_BAD_DB}"],
            "error: the study storage postgresql://u:***@127.0.0.1:1/db cannot be used",
        ),  # nobody listens
        (["hydra.sweeper.storage=sqlite:///{tmp}/not_a_db.txt"], "file is not a database)"),
        (["hydra.sweeper.storage=sqlite:///{tmp}"], "unable to open database file)"),  # a directory
    ],
)
def test_bad_space_and_storage_faults_are_one_line_errors(tmp_path, monkeypatch, args, message):
    monkeypatch.setenv("SS_BAD_DB", "postgresql://u:secret@127.0.0.1:1/db")
    (tmp_path / "not_a_db.txt").write_text("hello")
    p = sweep(tmp_path, "x=interval(0, 1)", *(a.replace("{tmp}", str(tmp_path)) for a in args))
    lines = p.stderr.strip().splitlines()
    assert (
        p.returncode == 2
        and lines[-1].startswith("error: ")
        and message in lines[-1]
        and "Traceback" not in p.stderr
    ), p.stderr
    assert "secret" not in p.stderr + p.stdout


def test_a_typo_in_range_test_overrides_is_an_error(tmp_path):
    from omegaconf import OmegaConf

    from training.range_test import config_for_run

    settings = dict.fromkeys(
        ("start_lr", "end_lr", "num_iter", "mode", "smooth", "stop_factor", "val_every"), 1
    )
    run_cfg = OmegaConf.create({"max_lr": 0.1, "wd": 1e-4})
    assert config_for_run(run_cfg, settings, ["num_iter=50"]).num_iter == 50
    with pytest.raises(
        ValueError, match="'num_itr=50': num_itr is not a setting of the range test"
    ):
        config_for_run(run_cfg, settings, ["num_itr=50"])


def test_study_with_other_space_or_direction_is_refused(tmp_path):
    assert sweep(tmp_path, "hydra.sweeper.n_trials=1", "x=interval(0, 1)").returncode == 0
    p = sweep(tmp_path, "hydra.sweeper.n_trials=2", "x=interval(0, 2)")
    assert p.returncode == 2 and "exists with search space" in p.stderr.strip().splitlines()[-1]
    p = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=2",
        "x=interval(0, 1)",
        "+hydra.sweeper.objectives.value=maximize",
    )
    assert p.returncode == 2 and "directions" in p.stderr


def test_resume_after_a_kill_reaches_the_total_without_overwriting(tmp_path):
    args = tiny_args(
        tmp_path, "hydra.sweeper.n_trials=8", "x=interval(0, 1)", "sleep_s=0.5", "epochs=2"
    )
    log_file = (tmp_path / "first.log").open("w")
    proc = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=env(),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    db = tmp_path / "optuna.db"
    deadline = time.time() + 120
    while time.time() < deadline:  # kill the sweep while a trial runs, after some have finished
        time.sleep(0.3)
        if db.exists():
            try:
                trials = load(tmp_path).get_trials()
            except Exception:
                continue
            # a trial running for 0.3 s of its 1 s: the kill surely lands inside it
            running = [
                t
                for t in trials
                if t.state == TrialState.RUNNING
                and time.time() - t.datetime_start.timestamp() > 0.3
            ]
            if sum(t.state == TrialState.COMPLETE for t in trials) >= 2 and running:
                break
    else:
        pytest.fail(
            "the first sweep never had 2 complete trials and one running: "
            + (tmp_path / "first.log").read_text()[-3000:]
        )
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {
        t.number: t.params["x"]
        for t in load(tmp_path).get_trials()
        if t.state == TrialState.COMPLETE
    }
    assert any(t.state == TrialState.RUNNING for t in load(tmp_path).get_trials()), (
        "the kill left a zombie"
    )

    p = subprocess.run(
        [*args, "hydra.sweeper.faults.retry_failed=true"],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    trials = load(tmp_path).get_trials()
    assert len(trials) == 8 and not [t for t in trials if t.state == TrialState.RUNNING]
    # the killed trial is adopted: the same trial runs again in its own dir and completes
    assert all(t.state == TrialState.COMPLETE for t in trials), [t.state for t in trials]
    assert "adopted from a sweep that is gone (its run again)" in p.stdout + p.stderr
    for number, x in before.items():  # finished work kept, its dir not overwritten
        assert load(tmp_path).trials[number].params["x"] == x
        assert json.loads((tmp_path / "sweep" / str(number) / "params.json").read_text())[
            "x"
        ] == pytest.approx(x)
    dirs = {int(d.name) for d in (tmp_path / "sweep").glob("[0-9]*")}
    assert dirs == {t.number for t in trials}, "every trial in its own dir, none overwritten"
    assert all(Path(t.user_attrs["job_dir"]).name == str(t.number) for t in trials)


def test_ctrl_c_leaves_no_running_trial(tmp_path):
    args = tiny_args(
        tmp_path, "hydra.sweeper.n_trials=20", "x=interval(0, 1)", "sleep_s=0.5", "epochs=60"
    )  # a 30 s trial: seen RUNNING by the poll below, it still runs when the signal lands (a busy box included)
    # a shell's background job ignores SIGINT and passes that on: give the sweep Python's default handler
    restore_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "stderr.log").open("w"),
        preexec_fn=restore_sigint,
    )
    deadline = time.time() + 120
    while time.time() < deadline:  # Ctrl-C 0.3 s into a 30 s trial: it lands inside the launch
        time.sleep(0.2)
        try:
            trials = load(tmp_path).get_trials()
        except Exception:
            continue
        if any(
            t.state == TrialState.RUNNING and time.time() - t.datetime_start.timestamp() > 0.3
            for t in trials
        ):
            break
    else:
        pytest.fail("no trial started running within 120 s")
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    trials = load(tmp_path).get_trials()
    assert trials and not [t for t in trials if t.state == TrialState.RUNNING]
    said = (tmp_path / "stderr.log").read_text()[-3000:]
    assert any(t.user_attrs.get("status") == "interrupted" for t in trials), said


def test_two_parallel_workers_share_one_study_and_complete_every_trial(tmp_path):
    args = tiny_args(
        tmp_path, "hydra.sweeper.n_trials=12", "x=interval(0, 1)", "sleep_s=0.2", "epochs=2"
    )
    procs = [
        subprocess.Popen(
            args, cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    trials = load(tmp_path).get_trials()
    assert 12 <= len(trials) <= 13, "the total is study-wide (a race may add one)"
    assert all(t.state == TrialState.COMPLETE for t in trials)
    workers = {t.user_attrs["worker"] for t in trials}
    assert len(workers) == 2, "both workers ran trials"
    assert len(list((tmp_path / "sweep").glob("[0-9]*"))) == len(trials), (
        "no job dir shared or overwritten"
    )


def test_joblib_launcher_runs_batches_in_other_processes_with_pruning(tmp_path):
    p = sweep(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=8",
        "hydra/sweeper/supersweep_pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=2",
        "hydra.sweeper.pruner.n_warmup_steps=0",
        "x=interval(-1, 1)",
        "epochs=5",
    )
    assert p.returncode == 0, p.stderr
    trials = load(tmp_path).get_trials()
    assert len(trials) == 8 and all(
        t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials
    )
    assert all(t.intermediate_values for t in trials), (
        "jobs in joblib workers reported to the shared storage"
    )


def test_a_job_cut_off_by_a_killed_sibling_runs_again_and_completes(tmp_path):
    """x=0.9 kills its joblib worker while its sibling (x=0.2, 3 epochs of 1 s) still trains:
    loky takes the whole batch down; the sibling runs once more alone and completes, the
    killer (killed again when it runs alone) fails."""
    p = sweep(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=2",
        "hydra/sweeper/supersweep_sampler=grid",
        "x=choice(0.2, 0.9)",
        "kill_above=0.5",
        "epochs=3",
        "sleep_s=1",
        f"kill_after_glob='{tmp_path / 'sweep' / '*' / 'params.json'}'",  # its sibling started
        "hydra.sweeper.faults.max_failure_rate=1.0",
    )
    assert p.returncode == 0, p.stderr
    trials = {t.params["x"]: t for t in load(tmp_path).get_trials()}
    assert trials[0.2].state == TrialState.COMPLETE, trials[0.2].user_attrs
    assert trials[0.2].value == pytest.approx((0.2 - 0.3) ** 2 + 0.1 + 1.0 / 3)
    assert trials[0.9].state == TrialState.FAIL and "launcher" in trials[0.9].user_attrs["reason"]
    assert "running it again alone" in p.stderr + p.stdout


def test_a_killed_job_fails_only_its_own_trial_and_the_sweep_goes_on(tmp_path):
    """The killed job's sibling in the same batch finished first: it keeps its result (read from its run dir)."""
    p = sweep(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=6",
        "hydra/sweeper/supersweep_sampler=grid",
        "hydra.sweeper.sampler.seed=0",
        "x=choice(0.1, 0.2, 0.9)",
        "kill_above=0.5",
        f"kill_after_glob='{tmp_path / 'sweep' / '*' / 'summary.json'}'",  # its sibling finished
        "hydra.sweeper.faults.max_failure_rate=1.0",
    )
    assert p.returncode == 0, p.stderr
    trials = load(tmp_path).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    killed = [t for t in trials if t.params["x"] == 0.9]
    assert killed and all(
        t.state == TrialState.FAIL and "launcher" in t.user_attrs["reason"] for t in killed
    )
    siblings = [
        trials[t.number ^ 1]
        for t in killed
        if t.number ^ 1 < len(trials) and trials[t.number ^ 1].params["x"] != 0.9
    ]  # same batch of 2
    assert siblings and all(
        t.state == TrialState.COMPLETE
        and t.value == pytest.approx((t.params["x"] - 0.3) ** 2 + 0.1 + 1.0)
        for t in siblings
    )


def test_storage_secret_stays_a_placeholder_in_job_overrides(tmp_path):
    os.environ["SS_TEST_DB"] = f"sqlite:///{tmp_path / 'optuna.db'}"
    p = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=1",
        "x=interval(0, 1)",
        "hydra.sweeper.storage=${oc.env:SS_TEST_DB}",
    )
    assert p.returncode == 0, p.stderr
    overrides = (tmp_path / "sweep" / "0" / ".hydra" / "overrides.yaml").read_text()
    assert "${oc.env:SS_TEST_DB}" in overrides and str(tmp_path / "optuna.db") not in overrides
    assert (
        redact("postgresql://user:hunter2@db.example/optuna")
        == "postgresql://user:***@db.example/optuna"
    )


def train_sweep(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "tasks.train",
        "-m",
        f"hydra.sweeper.storage=sqlite:///{tmp / 'optuna.db'}",
        "hydra.sweeper.study_name=s",
        f"hydra.sweep.dir={tmp / 'sweep'}",
        *args,
    ]
    return subprocess.run(cmd, cwd=tmp, env=env(), capture_output=True, text=True, timeout=600)


def test_lr_wd_preset_runs_the_range_test_with_the_users_overrides_then_a_seeded_search(tmp_path):
    p = train_sweep(
        tmp_path,
        "sweep=lr_wd",
        "data=digits",
        "model=mlp",
        "epochs=3",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.space.range_test_overrides=['num_iter=40']",
    )
    assert p.returncode == 0, p.stderr
    rt = json.loads((tmp_path / "sweep" / "range_test" / "range_test.json").read_text())
    assert rt["config"]["data"]["name"] == "digits" and rt["num_iter"] == 40, (
        "the auto range test saw data=digits model=mlp"
    )
    study = load(tmp_path)
    first = study.trials[0]
    assert first.params["max_lr"] == pytest.approx(rt["suggested_max_lr"])
    searched = first.distributions["max_lr"]  # the bounds widened by the preset's bounds_margin
    assert searched.log and searched.low == pytest.approx(rt["bounds"]["min_lr"] / 10**0.5)
    assert searched.high == pytest.approx(rt["bounds"]["max_lr"] * 10**0.5)
    assert len(study.trials) == 4 and all(
        t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials
    )
    assert all(t.intermediate_values for t in study.trials), "every epoch reported for pruning"
    assert "range test: suggested max_lr" in p.stdout + p.stderr


def test_diverged_training_trial_is_pruned_with_its_reason_and_the_sweep_goes_on(tmp_path):
    p = train_sweep(
        tmp_path,
        "hydra/sweeper=supersweep",
        "hydra/sweeper/supersweep_sampler=grid",
        "schedule=constant",
        "epochs=2",
        "max_lr=choice(1e6, 0.05)",
        "hydra.sweeper.n_trials=2",
    )
    assert p.returncode == 0, p.stderr
    by_lr = {t.params["max_lr"]: t for t in load(tmp_path).trials}
    assert by_lr[1e6].state == TrialState.PRUNED and by_lr[1e6].user_attrs["status"] == "diverged"
    assert "non-finite" in by_lr[1e6].user_attrs["reason"]
    assert by_lr[0.05].state == TrialState.COMPLETE


def test_lr_wd_cycle_preset_gives_a_pareto_front_of_accuracy_and_epochs(tmp_path):
    p = train_sweep(
        tmp_path,
        "sweep=lr_wd_cycle",
        "data=digits",
        "model=mlp",
        "hydra.sweeper.n_trials=4",
        "epochs=int(interval(2, 4))",
        "hydra.sweeper.space.range_test_overrides=['num_iter=40']",
    )
    assert p.returncode == 0, p.stderr
    study = load(tmp_path)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    results = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    front = {(tuple(s["values"])) for s in results["solutions"]}
    assert front == {tuple(t.values) for t in study.best_trials}
    for t in study.trials:
        if t.state == TrialState.COMPLETE:
            assert t.values[1] == t.params["epochs"], "training cost = epochs run"


def test_default_study_names_are_unique_even_for_sweeps_started_together(tmp_path):
    base = [
        sys.executable,
        TINY,
        "-m",
        "hydra/sweeper=supersweep",
        f"hydra.sweeper.storage=sqlite:///{tmp_path / 'optuna.db'}",
        "hydra.sweeper.n_trials=2",
        "x=interval(0, 1)",
    ]
    procs = [
        subprocess.Popen(
            [*base, f"hydra.sweep.dir={tmp_path / f'sweep{i}'}"],
            cwd=tmp_path,
            env=env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (0, 1)
    ]
    assert all(p.wait(timeout=300) == 0 for p in procs), [p.stderr.read() for p in procs]
    summaries = optuna.get_all_study_summaries(f"sqlite:///{tmp_path / 'optuna.db'}")
    assert len(summaries) == 2 and all(s.n_trials == 2 for s in summaries)
    assert all(s.study_name.startswith("tiny-") for s in summaries)


def test_a_sweep_dir_belongs_to_one_study(tmp_path):
    assert (
        sweep(tmp_path, "hydra.sweeper.n_trials=2", "x=interval(0, 1)", study="a").returncode == 0
    )
    first = (tmp_path / "sweep" / "0" / "params.json").read_text()
    p = sweep(tmp_path, "hydra.sweeper.n_trials=2", "x=interval(0, 1)", study="b")
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].startswith(
        f"error: hydra.sweep.dir={tmp_path / 'sweep'} belongs to study 'a'"
    )
    assert (tmp_path / "sweep" / "0" / "params.json").read_text() == first, (
        "the first study's job dirs are untouched"
    )
    assert (
        sweep(tmp_path, "hydra.sweeper.n_trials=3", "x=interval(0, 1)", study="a").returncode == 0
    ), "the same study may resume there"


def test_resume_with_other_fixed_settings_is_refused(tmp_path):
    assert (
        sweep(tmp_path, "hydra.sweeper.n_trials=2", "x=interval(0, 1)", "epochs=3").returncode == 0
    )
    p = sweep(tmp_path, "hydra.sweeper.n_trials=4", "x=interval(0, 1)", "epochs=1")
    assert (
        p.returncode == 2
        and "was run with other fixed settings (epochs: 3 -> 1)"
        in p.stderr.strip().splitlines()[-1]
    )
    assert len(load(tmp_path).get_trials()) == 2


@pytest.mark.parametrize(
    "bounds,message",
    [
        (
            {"min_lr": float("nan"), "max_lr": 0.6},
            "bounds must be null or finite lrs with 0 < min_lr <= max_lr <= 10000, got min_lr=nan",
        ),
        ({"min_lr": 0.05, "max_lr": float("inf")}, "got min_lr=0.05, max_lr=inf"),
        ({"min_lr": 1e300, "max_lr": 1e308}, "max_lr <= 10000, got min_lr=1e+300, max_lr=1e+308"),
        ("0.1", "bounds must be a mapping with min_lr and max_lr, got '0.1'"),
        ({"min_lr": "abc", "max_lr": 0.6}, "got min_lr='abc'"),
        ({"min_lr": 0.05}, "bounds must be a mapping with min_lr and max_lr"),
    ],
)
def test_bad_range_test_bounds_are_one_line_errors_before_anything_is_stored(
    tmp_path, bounds, message
):
    rt = write_range_test(tmp_path)
    result = json.loads((rt / "range_test.json").read_text())
    result["bounds"] = bounds
    (rt / "range_test.json").write_text(
        json.dumps(result)
    )  # Python's json writes NaN and Infinity, and reads them back
    p = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=2",
        f"hydra.sweeper.space.range_test={rt}",
        "sweep_keys.lr=x",
    )
    assert (
        p.returncode == 2
        and p.stderr.strip().splitlines()[-1].startswith("error: range test file")
        and message in p.stderr
    )
    assert optuna.get_all_study_summaries(f"sqlite:///{tmp_path / 'optuna.db'}") == [], (
        "no study (and no zombie trial) was stored"
    )


def test_a_study_holding_bad_bounds_is_refused_in_one_line(tmp_path):
    test_range_test_bounds_seed_the_space_and_the_first_trial(tmp_path)
    load(tmp_path).set_user_attr(
        "bounds", {"min_lr": float("nan"), "max_lr": 0.6, "source": "file", "path": "x"}
    )
    p = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=5",
        f"hydra.sweeper.space.range_test={tmp_path / 'rt'}",
        "sweep_keys.lr=x",
    )
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].startswith(
        "error: study 's' holds bad max_lr bounds"
    )
    assert len(load(tmp_path).get_trials()) == 3


@pytest.mark.parametrize(
    "arg,reason",
    [
        ("exit_above=0.5", "the job exited (sys.exit(3))"),
        ("interrupt_above=0.5", "raised KeyboardInterrupt itself"),
    ],
)
def test_a_job_that_exits_fails_its_trial_and_the_sweep_goes_on(tmp_path, arg, reason):
    p = sweep(
        tmp_path,
        "hydra/sweeper/supersweep_sampler=grid",
        "x=choice(0.1, 0.9, 0.2)",
        arg,
        "hydra.sweeper.faults.max_failure_rate=1.0",
    )
    assert p.returncode == 0, p.stderr
    trials = {t.params["x"]: t for t in load(tmp_path).get_trials()}
    assert (
        len(trials) == 3
        and trials[0.9].state == TrialState.FAIL
        and reason in trials[0.9].user_attrs["reason"]
    )
    assert trials[0.1].state == trials[0.2].state == TrialState.COMPLETE


def test_a_crash_inside_ask_leaves_no_running_trial(tmp_path):
    p = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=3",
        "x=interval(0, 1)",
        "hydra/sweeper/supersweep_sampler=random",
        "hydra.sweeper.sampler._target_=tests.apps.crashing_sampler.CrashOnSecondTrial",
    )
    assert p.returncode != 0 and "sampler crash inside ask()" in p.stderr
    trials = load(tmp_path).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL], (
        "the trial ask() created before it crashed is failed at once"
    )
    assert (
        trials[1].user_attrs["worker"].startswith(f"{os.uname().nodename}:")
        and "when its sweep stopped" in trials[1].user_attrs["reason"]
    )


def test_a_live_worker_reaps_a_dead_workers_running_trial(tmp_path):
    """A RUNNING trial of a process on this host that is gone is failed during another worker's sweep."""
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    args = tiny_args(tmp_path, "hydra.sweeper.n_trials=6", "x=interval(0, 1)", "sleep_s=0.3")
    proc = subprocess.Popen(
        args, cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 120
    while (
        time.time() < deadline
    ):  # once the worker runs its first trial, plant a dead worker's RUNNING trial
        time.sleep(0.2)
        try:
            study = load(tmp_path)
            if study.get_trials(states=(TrialState.RUNNING,)):
                break
        except Exception:
            continue
    zombie = study.ask({"x": FloatDistribution(0, 1)})
    for key, value in {"worker_host": os.uname().nodename, "worker_pid": int(gone.stdout)}.items():
        zombie.set_user_attr(key, value)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    t = load(tmp_path).trials[zombie.number]
    assert (
        t.state == TrialState.FAIL
        and "failed during the sweep of another worker" in t.user_attrs["reason"]
    )


def test_a_storage_that_fails_mid_sweep_is_one_line(tmp_path):
    """A read-only database (a full disk fails the same way: at the first write)."""
    assert (
        sweep(tmp_path, "hydra.sweeper.n_trials=1", "x=interval(0, 1)", study="a").returncode == 0
    )
    ro = f'hydra.sweeper.storage="sqlite:///file:{tmp_path / "optuna.db"}?mode=ro&uri=true"'
    cmd = [
        sys.executable,
        TINY,
        "-m",
        "hydra/sweeper=supersweep",
        ro,
        "hydra.sweeper.study_name=b",
        f"hydra.sweep.dir={tmp_path / 'b'}",
        "x=interval(0, 1)",
    ]
    p = subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    last = p.stderr.strip().splitlines()[-1]
    assert (
        p.returncode == 2
        and last.startswith("error: the study storage sqlite:///")
        and "readonly database" in last
        and "Traceback" not in p.stderr
    )


def test_sam_preset_searches_rho_jointly_with_lr_and_wd(tmp_path):
    p = train_sweep(
        tmp_path,
        "sweep=lr_wd_sam",
        "data=digits",
        "model=mlp",
        "epochs=2",
        "hydra.sweeper.n_trials=3",
        "hydra/sweeper/supersweep_scheduler=full",
        "hydra/sweeper/supersweep_pruner=none",
        "hydra.sweeper.space.range_test_overrides=['num_iter=40']",
    )
    assert p.returncode == 0, p.stderr
    trials = load(tmp_path).get_trials()
    assert len(trials) == 3 and all(
        set(t.params) == {"max_lr", "wd", "wrapper.rho"} for t in trials
    )
    assert (
        all(0.01 <= t.params["wrapper.rho"] <= 1.0 for t in trials)
        and trials[0].state == TrialState.COMPLETE
    )


def test_rung_continue_trains_each_increment_from_the_previous_runs_weights(tmp_path):
    """MORL: a promoted trial's next run starts from its last run's final weights and trains only the new epochs."""
    p = train_sweep(
        tmp_path,
        "hydra/sweeper=supersweep",
        "data=digits",
        "model=mlp",
        "epochs=5",
        "max_lr=tag(log, interval(0.05, 0.5))",
        "hydra.sweeper.n_trials=4",
        "hydra/sweeper/supersweep_scheduler=continuation",
        "hydra.sweeper.scheduler.rungs=[1,2]",
        "hydra/sweeper/supersweep_pruner=successive_halving",
        "hydra.sweeper.pruner.min_resource=1",
        "hydra.sweeper.pruner.reduction_factor=2",
    )
    assert p.returncode == 0, p.stderr
    full = [t for t in load(tmp_path).get_trials() if t.state == TrialState.COMPLETE]
    assert full, "at least one trial was promoted to the full run"
    for t in full:
        lines = yaml.safe_load(
            (tmp_path / "sweep" / str(t.number) / ".hydra" / "overrides.yaml").read_text()
        )
        assert (
            "epochs=3" in lines
            and f"init_from={tmp_path / 'sweep' / f'{t.number}-epochs2'}"
            in [o.replace("'", "") for o in lines]
        )
        assert t.user_attrs["epochs_total"] == 5, "1 + 1 + 3 epochs: no epoch trained twice"
        assert (tmp_path / "sweep" / f"{t.number}-epochs2" / "final.pt").is_file()


def test_rung_continue_needs_a_task_that_can_continue(tmp_path):
    p = sweep(
        tmp_path,
        "x=interval(0, 1)",
        "epochs=4",
        "hydra/sweeper/supersweep_scheduler=continuation",
        "hydra.sweeper.scheduler.rungs=[1]",
        "hydra/sweeper/supersweep_pruner=median",
    )
    assert (
        p.returncode == 2
        and "supersweep_scheduler=continuation needs a task with init_from"
        in p.stderr.strip().splitlines()[-1]
    )


@pytest.mark.parametrize(
    "launcher",
    [
        [],  # Hydra's basic launcher: the jobs run in the sweep's own process
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=60"],
    ],
)
def test_a_trial_past_its_time_limit_fails_and_the_sweep_goes_on(tmp_path, launcher):
    """x=0.2 trains 1 epoch (0.5 s), x=0.7 sixty (30 s) against a 10 s limit (the limit counts from
    when the task starts: its storage and study loads too, slow on a busy box)."""
    p = sweep(
        tmp_path,
        *launcher,
        "hydra/sweeper/supersweep_sampler=grid",
        "x=choice(0.7, 0.2)",
        "short_below=0.5",
        "epochs=60",
        "sleep_s=0.5",
        "hydra.sweeper.jobs.trial_timeout_s=10",
        "hydra.sweeper.faults.max_failure_rate=1.0",
        "hydra.sweeper.n_trials=10",
    )
    assert p.returncode == 0, p.stderr
    trials = {t.params["x"]: t for t in load(tmp_path).get_trials()}
    assert trials[0.2].state == TrialState.COMPLETE
    late = trials[0.7]
    assert late.state == TrialState.FAIL and "trial_timeout_s=10" in late.user_attrs["reason"]
    assert len(late.intermediate_values) < 60, "stopped before its last epoch"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["hydra.sweeper.faults.max_failure_rate=2"],
            "max_failure_rate must be a number in [0, 1], got 2",
        ),
        (["+hydra.sweeper.foo=1"], "hydra.sweeper.foo is not a setting"),
        (
            ["hydra.sweeper.space.first_timescale=-1"],
            "hydra.sweeper.space.first_timescale must be null or a number of runs > 0, got -1",
        ),
        (
            ["hydra.sweeper.faults.stale_after_s=-1"],
            "stale_after_s must be a number of seconds > 0",
        ),
        (
            ["sweep_keys.lr=foo", "hydra.sweeper.space.range_test=x"],
            "sweep_keys.lr=foo (hydra.sweeper.space.range_test): the task's config has no key 'foo'",
        ),
        (
            ["+hydra.sweeper.rung_continue=true"],
            "hydra.sweeper.rung_continue moved: hydra/sweeper/supersweep_scheduler=continuation",
        ),
        (
            ["+hydra.sweeper.adaptive_runs=20"],
            "hydra.sweeper.adaptive_runs moved: hydra/sweeper/supersweep_scheduler=balance hydra.sweeper.scheduler.max_runs=N",
        ),
        (
            ["+hydra.sweeper.scheduler.foo=1"],
            "hydra.sweeper.scheduler.foo is not a setting of FullRuns; allowed: replicates",
        ),
        (
            [
                "hydra/sweeper/supersweep_scheduler=asha",
                "hydra.sweeper.scheduler.reduction_factor=1",
            ],
            "hydra.sweeper.scheduler.reduction_factor must be an integer >= 2, got 1",
        ),
    ],
)
def test_bad_settings_are_one_line_before_the_study_is_touched(tmp_path, args, message):
    p = sweep(tmp_path, "x=interval(0, 1)", *args)
    assert p.returncode == 2 and message in p.stderr.strip().splitlines()[-1], p.stderr
    assert not (tmp_path / "optuna.db").exists() or not optuna.get_all_study_summaries(
        f"sqlite:///{tmp_path / 'optuna.db'}"
    )


def kill_midway(d: Path, args: list[str], ready) -> None:
    """Start the sweep in ``d``, SIGKILL its whole process group once ``ready(trials)``."""
    log_file = (d / "first.log").open("w")
    proc = subprocess.Popen(
        tiny_args(d, *args),
        cwd=d,
        env=env(),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 180  # a last guard: the study's own progress is the event
    while time.time() < deadline:
        time.sleep(0.1)
        try:
            trials = load(d).get_trials()
        except Exception:  # the study is not there yet
            continue
        if ready(trials):
            break
    else:
        pytest.fail("the sweep never got there: " + (d / "first.log").read_text()[-3000:])
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def kill_when_held(d: Path, args: list[str], after: int) -> list[str]:
    """Start the sweep in ``d`` with the tiny app's hold: the job that starts once ``after``
    runs have finished waits there; SIGKILL the whole sweep when it says so. The kill point is
    fixed by the design, never by how fast the box is. Returns the hold's settings, for the
    resume (the same fixed settings; the hold file is gone, so nothing waits)."""
    hold = d / "hold"
    hold.touch()
    held_args = [f"hold_file={hold}", f"hold_after={after}"]
    log_file = (d / "first.log").open("w")
    proc = subprocess.Popen(
        tiny_args(d, *args, *held_args),
        cwd=d,
        env=env(),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    held = Path(f"{hold}.held")
    deadline = time.time() + 300  # a last guard: the held job's file is the event
    while not held.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if not held.exists():
        proc.kill()
        pytest.fail(
            "the sweep never reached its kill point: " + (d / "first.log").read_text()[-3000:]
        )
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    hold.unlink()  # the resumed sweep runs through
    return held_args


# every scheduler of the group, set up to make real decisions on the tiny task: QMC draws are
# numbered in the study, so a straight and a resumed sweep draw the same x in the same order
DRAWN = [
    "hydra/sweeper/supersweep_sampler=qmc",
    "hydra.sweeper.sampler.seed=0",
    "hydra.sweeper.n_trials=8",
    "x=interval(0, 1)",
    "epochs=3",
]
RUNG = ["hydra.sweeper.scheduler.rungs=[1]"]
HALVING = [
    "hydra/sweeper/supersweep_pruner=successive_halving",
    "hydra.sweeper.pruner.min_resource=1",
]
KILLED_SCHEDULERS = {
    "full": (["hydra/sweeper/supersweep_scheduler=full", *DRAWN], 3),
    "rungs": (["hydra/sweeper/supersweep_scheduler=rungs", *RUNG, *HALVING, *DRAWN], 4),
    "asha": (
        [
            "hydra/sweeper/supersweep_scheduler=asha",
            *RUNG,
            "hydra.sweeper.scheduler.reduction_factor=2",
            *DRAWN,
        ],
        5,  # past the first promotion: trials paused at their rung when the kill comes
    ),
    "continuation": (
        [
            "hydra/sweeper/supersweep_scheduler=continuation",
            *RUNG,
            *HALVING,
            *DRAWN,
            "+sweep_keys.init_from=init_from",
            "+init_from=null",
            "+sweep_keys.final_weights=keep_final",
            "+keep_final=false",
        ],
        4,
    ),
    "balance": (
        [
            "hydra/sweeper/supersweep_scheduler=balance",
            "hydra.sweeper.scheduler.max_runs=30",
            "hydra/sweeper/supersweep_sampler=none",
            "hydra.sweeper.space.lr_levels=[-1,-0.5,0]",
            "sweep_keys.lr=x",
            "+sweep_keys.seed=seed",
            "+seed=0",
            "wd=choice(1e-4,1e-3,1e-2)",
            "seed=choice(0)",
            "epochs=2",
        ],
        5,  # past the pilot (3 levels), a grid run in flight
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", list(KILLED_SCHEDULERS))
def test_every_scheduler_killed_with_sigkill_resumes_to_the_same_decisions(tmp_path, scheduler):
    """kill -9 of the whole sweep while a job waits at a fixed kill point (the tiny app's hold:
    the job that starts after k finished runs waits to be killed, so the point never depends
    on the box's speed); the same command with faults.retry_failed adopts or reruns what was in
    flight, and the study ends with the decisions of an uninterrupted sweep: the same trials in
    the same states, no full run trained twice, nothing left RUNNING or WAITING."""
    args, after = KILLED_SCHEDULERS[scheduler]
    common = [*args, "hydra.sweeper.faults.retry_failed=true"]
    if scheduler == "balance":
        common.append(f"hydra.sweeper.space.range_test={write_range_test(tmp_path)}")
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    for d in (straight, killed):
        d.mkdir()
    p = sweep(straight, *common)
    assert p.returncode == 0, p.stderr
    held = kill_when_held(killed, common, after=after)
    assert load(killed).get_trials(states=(TrialState.RUNNING,)), "killed mid-sweep"
    finished = {f: f.stat().st_mtime_ns for f in (killed / "sweep").glob("*/summary.json")}
    p = sweep(killed, *common, *held)
    assert p.returncode == 0, p.stderr

    def decided(d):
        trials = load(d).get_trials()
        return sorted((tuple(sorted(t.params.items())), t.state.name) for t in trials)

    assert decided(killed) == decided(straight)
    assert not load(killed).get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    assert {f: f.stat().st_mtime_ns for f in finished} == finished, "a finished run ran again"
    assert len(list((killed / "sweep").glob("*/summary.json"))) == len(
        list((straight / "sweep").glob("*/summary.json"))
    ), "as many runs as the straight sweep: none lost, none twice"
    if scheduler == "balance":
        design = lambda d: load(d).user_attrs["design"]  # noqa: E731
        assert design(killed)["stop"] == design(straight)["stop"]


def test_a_time_budget_ends_the_sweep_with_nothing_left_running(tmp_path):
    """hydra.sweeper.jobs.timeout_s: once spent no run starts, the run in flight finishes, a
    trial waiting for its promotion ends pruned, and the sweep ends with its results (exit 0)."""
    p = sweep(
        tmp_path,
        "hydra/sweeper/supersweep_scheduler=rungs",
        "hydra.sweeper.scheduler.rungs=[1]",
        "hydra/sweeper/supersweep_pruner=successive_halving",
        "hydra.sweeper.pruner.min_resource=1",
        "hydra.sweeper.n_trials=1000",
        "hydra.sweeper.jobs.timeout_s=2",
        "x=interval(0, 1)",
        "epochs=3",
        "sleep_s=0.05",
    )
    assert p.returncode == 0, p.stderr
    assert "time budget spent (hydra.sweeper.jobs.timeout_s=2)" in p.stderr + p.stdout
    trials = load(tmp_path).get_trials()
    assert 0 < len(trials) < 1000
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert (tmp_path / "sweep" / "optimization_results.yaml").is_file()


@pytest.mark.slow
def test_the_cifar_recipe_runs_as_written_on_a_real_format_archive(tmp_path):
    """sweep=cifar_lr_wd on a small CIFAR-10 archive in torchvision's on-disk format (random
    pixels: the mechanics, not the accuracy): range test, full runs, the time budget's setting
    in force, a recommendation at the end."""
    from .test_data import write_cifar

    write_cifar(tmp_path / "data", "cifar10", n_train_per_file=40, n_test=50)
    p = train_sweep(
        tmp_path,
        "sweep=cifar_lr_wd",
        f"data_dir={tmp_path / 'data'}",
        "data.source.download=false",
        "device=cpu",
        "epochs=1",
        "batch_size=32",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.space.range_test_overrides=['num_iter=20']",
    )
    assert p.returncode == 0, p.stderr[-3000:]
    out = p.stdout + p.stderr
    assert "range test: suggested max_lr" in out and "recommendation: use max_lr=" in out
    study = load(tmp_path)
    assert len(study.trials) == 2 and all(t.state == TrialState.COMPLETE for t in study.trials)


def test_replicates_repeat_the_recommendation_with_other_seeds_and_survive_a_resume(tmp_path):
    """scheduler.replicates=2: the last two trials train the model's recommended (x, wd) again
    with seed 1 and 2 (the task's seed + 1, + 2), replayable by hand; a resume keeps the seeds."""
    common = [
        "hydra/sweeper/supersweep_scheduler=full",
        "hydra.sweeper.scheduler.replicates=2",
        "sweep_keys.lr=x",
        "+sweep_keys.seed=seed",
        "+seed=0",
        "x=tag(log, interval(0.01, 1))",
        "wd=tag(log, interval(1e-4, 1e-1))",
    ]
    p = sweep(tmp_path, *common, "hydra.sweeper.n_trials=6")
    assert p.returncode == 0, p.stderr
    trials = load(tmp_path).get_trials()
    reps = [t for t in trials if "replicate_seed" in t.user_attrs]
    assert [t.user_attrs["replicate_seed"] for t in reps] == [1, 2]
    assert [t.number for t in reps] == [4, 5], "the last trials of the budget"
    for t in reps:
        assert f"seed={t.user_attrs['replicate_seed']}" in t.user_attrs["replay"]
    assert "again with seed=1 (scheduler.replicates=2)" in p.stderr + p.stdout
    # more trials on the same study: the seeds go on from the stored ones
    p = sweep(tmp_path, *common, "hydra.sweeper.n_trials=7")
    assert p.returncode == 0, p.stderr
    last = load(tmp_path).get_trials()[-1]
    assert last.user_attrs["replicate_seed"] == 3


def test_replicates_need_lr_and_wd_searched():
    from omegaconf import OmegaConf

    from sweeper import SweepError
    from sweeper._keys import SweepKeys
    from sweeper.schedulers import SweepContext
    from sweeper.schedulers.full import FullRuns

    ctx = SweepContext(
        keys=SweepKeys(lr="max_lr", wd="wd"),
        task_cfg=OmegaConf.create({"seed": 0}),
        distributions={},
        objectives={"best_val_acc": "maximize"},
        pruner=None,  # type: ignore[arg-type]
        sweep_dir=Path("."),
    )
    with pytest.raises(SweepError, match="replicates repeats the recommended"):
        FullRuns(ctx, replicates=2)
    with pytest.raises(SweepError, match="replicates must be an integer >= 0"):
        FullRuns(ctx, replicates=-1)


def test_rungs_of_a_few_optimizer_steps_are_warned_about(tmp_path):
    """digits at batch 128: a 1-epoch rung is ~10 steps; the sweep says so before it ranks
    settings by such runs."""
    p = train_sweep(
        tmp_path,
        "sweep=lr_wd",
        "data=digits",
        "model=mlp",
        "epochs=3",
        "hydra/sweeper/supersweep_scheduler=rungs",
        "hydra.sweeper.scheduler.rungs=[1]",
        "hydra/sweeper/supersweep_pruner=successive_halving",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.space.range_test_overrides=['num_iter=40']",
    )
    assert p.returncode == 0, p.stderr
    assert "the first rung (epochs=1) is" in p.stderr + p.stdout
    assert "min_rung_steps=50 lengthens them" in p.stderr + p.stdout


def test_a_seeded_sweep_resumed_draws_new_settings_not_its_first_ones_again(tmp_path):
    """hydra.sweeper.sampler.seed=0, 3 trials, then the same command with n_trials=6: the
    resumed sweep's draws are not the first sweep's again (its seed is offset by the trials)."""
    common = [
        "hydra/sweeper/supersweep_sampler=tpe",
        "hydra.sweeper.sampler.seed=0",
        "x=interval(0, 1)",
    ]
    assert sweep(tmp_path, *common, "hydra.sweeper.n_trials=3").returncode == 0
    p = sweep(tmp_path, *common, "hydra.sweeper.n_trials=6")
    assert p.returncode == 0, p.stderr
    xs = [t.params["x"] for t in load(tmp_path).get_trials()]
    assert len(xs) == 6 and not set(xs[3:]) & set(xs[:3]), xs


def test_model_rungs_promote_by_the_models_full_run_prediction_and_hedged_trials_skip_rungs(
    tmp_path,
):
    """supersweep_scheduler=model_rungs (one module and one YAML file): a rung run is promoted
    or pruned by the study's model of every run, with its numbers in the words; with
    straight_every=3, trials 0, 3, 6, ... train their full run at once (no rung run)."""
    p = sweep(
        tmp_path,
        "hydra/sweeper/supersweep_scheduler=model_rungs",
        "hydra.sweeper.scheduler.rungs=[1]",
        "hydra.sweeper.scheduler.straight_every=3",
        "hydra.sweeper.n_trials=12",
        "hydra.sweeper.sampler.seed=0",
        "x=interval(0, 1)",
        "wd=tag(log, interval(1e-5, 1e-1))",
        "sweep_keys.lr=x",
        "epochs=3",
    )
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    assert "promoted to epochs=3 (predicted full run" in out and "best predicted" in out
    trials = load(tmp_path).get_trials()
    assert len(trials) == 12 and not [t for t in trials if t.state == TrialState.RUNNING]
    for t in trials:
        rungs = t.user_attrs.get("rung_epochs") or {}
        if t.number % 3 == 0:  # hedged: the full run only
            assert rungs == {"1": 3}, (t.number, rungs)
        else:
            assert "0" in rungs, (t.number, rungs)
    for t in trials:
        if t.state == TrialState.PRUNED:
            assert "the study's model (predicted full run" in t.user_attrs["reason"]


def test_a_claim_of_the_sweep_dir_is_never_read_half_written(tmp_path):
    """Workers starting together claim the dir at once: every one of them reads a whole claim
    (the test_secrets run once read an empty file between create and write), no temp is left."""
    from concurrent.futures import ThreadPoolExecutor

    from sweeper._study import OWNER_FILE, claim_sweep_dir

    for k in range(20):
        d = tmp_path / str(k)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda dd: claim_sweep_dir(dd, "s", "sqlite:///x.db"), [d] * 8))
        assert [p.name for p in d.iterdir()] == [OWNER_FILE]
