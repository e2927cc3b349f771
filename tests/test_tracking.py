"""Opt-in tracking on the real libraries, read back: TensorBoard's event reader and the MLflow
client see every epoch's metrics, the params and the summary; a sweep's trials are grouped."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import ROOT

pytest.importorskip("tensorboard")
pytest.importorskip("mlflow")


def app(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tasks.train", *args, "data=digits", "model=mlp", "threads=1"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.slow
def test_a_run_is_logged_to_tensorboard_and_mlflow(tmp_path):
    from mlflow import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    p = app(
        "epochs=3",
        "tracking.tensorboard=true",
        "tracking.mlflow=true",
        f"tracking.mlflow_uri={uri}",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("val_acc")] == [1, 2, 3]
    assert "train_loss" in events.Tags()["scalars"]
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("supersweep").experiment_id])
    assert (
        run.data.params["max_lr"] == "0.1"
        and run.data.params["model._target_"] == "training.models.MLP"
    )
    assert len(client.get_metric_history(run.info.run_id, "val_acc")) == 3
    assert run.data.metrics["summary.best_val_acc"] > 0.5 and run.info.status == "FINISHED"


@pytest.mark.slow
def test_a_tensorboard_dir_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "tensorboard").write_text("a file where the event dir goes")
    p = app(
        "epochs=1", "tracking.tensorboard=true", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path
    )
    assert p.returncode == 2 and p.stderr.strip() == (
        f"error: tracking.tensorboard: cannot create {tmp_path / 'run' / 'tensorboard'} (File exists)."
    ), p.stderr[-2000:]


@pytest.mark.slow
def test_a_sweeps_trials_are_grouped_in_one_experiment_without_the_storage_url(tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    p = app(
        "-m",
        "hydra/sweeper=supersweep",
        "max_lr=0.05,0.2",
        "hydra/sweeper/supersweep_sampler=grid",
        "epochs=2",
        "hydra.sweeper.study_name=grouped",
        f"hydra.sweeper.storage=sqlite:///{tmp_path / 's.db'}",
        "tracking.mlflow=true",
        f"tracking.mlflow_uri={uri}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("grouped").experiment_id])
    assert sorted(r.data.tags["trial"] for r in runs) == ["0", "1"]
    assert all("s.db" not in str(v) for r in runs for v in r.data.params.values())  # no study URL


@pytest.mark.slow
def test_mlflow_shows_what_the_sweeper_decided_on_each_rung_and_trial(tmp_path):
    """Rung sweep: every trial's rung run and full run have their own name, and the tag
    ``sweeper`` agrees with the study (COMPLETE: rung promoted, full run kept; PRUNED: the last
    run pruned, collapsed or diverged); a run the pruner stopped is KILLED, not FAILED."""
    import optuna
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    p = app(
        "-m",
        "hydra/sweeper=supersweep",
        "max_lr=0.0001,0.2,0.05,0.00003",
        "hydra/sweeper/supersweep_sampler=grid",
        "hydra/sweeper/supersweep_scheduler=rungs",
        "hydra.sweeper.scheduler.rungs=[1]",
        "hydra/sweeper/supersweep_pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=1",
        "hydra.sweeper.pruner.n_warmup_steps=0",
        "epochs=3",
        "hydra.sweeper.study_name=rungs",
        f"hydra.sweeper.storage=sqlite:///{tmp_path / 's.db'}",
        "tracking.mlflow=true",
        f"tracking.mlflow_uri={uri}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    study = optuna.load_study(study_name="rungs", storage=f"sqlite:///{tmp_path / 's.db'}")
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("rungs").experiment_id])
    by_trial: dict[str, dict[str, object]] = {}
    for r in runs:
        by_trial.setdefault(r.data.tags["trial"], {})[r.info.run_name] = r
    states = {str(t.number): t.state for t in study.trials}
    assert set(by_trial) == set(states)
    for number, state in states.items():
        named = by_trial[number]
        rung = named[f"trial {number} rung epochs=1"]
        if state == optuna.trial.TrialState.COMPLETE:
            full = named[f"trial {number}"]
            assert rung.data.tags["sweeper"] == "promoted" and full.data.tags["sweeper"] == "kept"
            assert full.info.status == "FINISHED"
        else:
            assert state == optuna.trial.TrialState.PRUNED
            last = named.get(f"trial {number}", rung)
            assert last.data.tags["sweeper"] in ("pruned", "collapsed", "diverged")
            if last.data.tags.get("status") == "pruned":
                assert last.info.status == "KILLED"
    assert {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED} <= set(
        states.values()
    )


def _cfg(*overrides: str):
    from hydra import compose, initialize_config_dir

    from .conftest import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides))


def test_a_literal_password_in_the_tracking_uri_is_refused_in_one_line():
    from training.checks import ConfigError, check_train_config

    cfg = _cfg("tracking.mlflow=true", "tracking.mlflow_uri=postgresql://bob:s3cret@db/mlflow")
    with pytest.raises(ConfigError, match=r"tracking.mlflow_uri holds a password") as e:
        check_train_config(cfg)
    assert "s3cret" not in str(e.value)


def test_the_tracking_uri_is_never_a_logged_param(monkeypatch):
    """Given the supported way (an environment variable), the URL with its password is neither
    in the params MLflow and TensorBoard get nor anywhere in the run's logged values."""
    from training.checks import check_train_config
    from training.tracking import flat_params

    monkeypatch.setenv("MLFLOW_DB", "postgresql://bob:s3cret@db/mlflow")
    cfg = _cfg("tracking.mlflow=true", "tracking.mlflow_uri=${oc.env:MLFLOW_DB}")
    check_train_config(cfg)  # a placeholder is fine
    params = flat_params(cfg)
    assert not [k for k in params if k.startswith(("tracking", "trial"))]
    assert "s3cret" not in repr(params)


@pytest.mark.parametrize("uri", ["garbage://x", "http://127.0.0.1:1"])
def test_an_unusable_tracking_uri_is_one_line_naming_the_key(tmp_path, uri):
    pytest.importorskip("mlflow")
    from training.checks import ConfigError
    from training.tracking import MlflowTracker

    cfg = _cfg("tracking.mlflow=true", f"tracking.mlflow_uri={uri}")
    with pytest.raises(ConfigError, match=r"^tracking.mlflow_uri: MLflow cannot be used there"):
        MlflowTracker(cfg, tmp_path)


def _open_tracker(uri: str, out: str) -> str:
    from pathlib import Path

    from training.tracking import MlflowTracker

    cfg = _cfg("tracking.mlflow=true", f"tracking.mlflow_uri={uri}")
    MlflowTracker(cfg, Path(out))
    return "ok"


@pytest.mark.slow
def test_jobs_that_open_a_new_sqlite_mlflow_store_together_all_start(tmp_path):
    """The README's example (two joblib workers, a fresh sqlite:///mlflow.db): the schema is
    made once, under a file lock, and every job starts (one used to fail in the migration)."""
    pytest.importorskip("mlflow")
    import multiprocessing

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        results = pool.starmap(_open_tracker, [(uri, str(tmp_path / f"run{i}")) for i in range(3)])
    assert results == ["ok"] * 3


def test_the_sweepers_decision_reaches_the_jobs_tensorboard_run(tmp_path):
    """tag_decision writes the decision as the text ``sweeper`` into the job's TensorBoard run,
    read back as TensorBoard reads it; a job without a TensorBoard dir is left alone."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from training.tracking import tag_decision

    job = tmp_path / "7"
    (job / "tensorboard").mkdir(parents=True)
    assert tag_decision(job, "pruned") is None
    events = EventAccumulator(str(job / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    texts = [t for t in events.Tags().get("tensors", []) if t.startswith("sweeper")]
    assert texts, events.Tags()
    value = events.Tensors(texts[0])[-1].tensor_proto.string_val[0].decode()
    assert value == "pruned"
    bare = tmp_path / "8"
    bare.mkdir()
    assert tag_decision(bare, "kept") is None and not (bare / "tensorboard").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("file:///{tmp}/mlruns", "MLflow 3 refuses its file store"),
        ("{tmp}/mlruns", "MLflow 3 refuses its file store"),
        ("${{oc.env:TRACKING_DB}}", "does not answer (OperationalError"),
        ("http://127.0.0.1:1", "does not answer (URLError"),
    ],
)
def test_a_tracking_uri_that_cannot_work_is_one_line_before_any_job_runs(tmp_path, uri, words):
    """The campaign's cases: a file store passed the pre-check and failed trial 0; an
    unreachable database cost 116 s of MLflow's retries. Now one line, exit 2, nothing ran, and
    the password of a URI given by environment variable is not printed."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRACKING_DB": "postgresql+psycopg://u:s3cret@127.0.0.1:1/db",  # port 1: refused
    }
    given = uri.format(tmp=tmp_path)
    p = subprocess.run(
        [sys.executable, "-m", "tasks.train", "-m", "data=digits", "model=mlp", "epochs=1",
         "tracking.mlflow=true", f"tracking.mlflow_uri={given}", f"hydra.sweep.dir={tmp_path / 's'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and words in lines[0], p.stderr
    assert lines[0].startswith("error: tracking.mlflow_uri=") and "s3cret" not in p.stderr
    assert not (tmp_path / "s").exists() or not list((tmp_path / "s").glob("*/summary.json"))


def test_a_tracker_that_stops_answering_mid_run_costs_one_warning_not_the_run(caplog):
    """The campaign's case: a tracker that broke mid-sweep failed the trials it logged; now the
    run goes on without it, said once (password hidden)."""
    from types import SimpleNamespace

    from training.tracking import MlflowTracker

    class Gone:
        def log_metric(self, *a, **k):
            raise ConnectionError("postgresql://u:s3cret@db/x: server closed the connection")

        set_tag = set_terminated = log_metric

    tracker = MlflowTracker.__new__(MlflowTracker)  # as if opened: its server then went away
    tracker.client, tracker.run = Gone(), SimpleNamespace(info=SimpleNamespace(run_id="r"))
    with caplog.at_level("WARNING"):
        for epoch in (1, 2):
            tracker({"epoch": epoch, "val_acc": 0.5})
        tracker.on_summary({"status": "completed", "best_val_acc": 0.5})
    said = [r.getMessage() for r in caplog.records if "stopped answering" in r.getMessage()]
    assert len(said) == 1 and "at epoch 1" in said[0] and "s3cret" not in said[0], said
