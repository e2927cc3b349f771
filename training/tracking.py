"""Opt-in experiment tracking of every run (``tracking.tensorboard`` / ``tracking.mlflow``):
the run's params, every epoch's metrics and its summary, on the real libraries (extras:
``pip install -e .[tracking]``).

- TensorBoard: event files in ``<run dir>/tensorboard``; a sweep's trials are its job dirs, so
  ``tensorboard --logdir <sweep dir>`` shows them side by side (one run per trial).
- MLflow: one MLflow run per training run in the experiment ``tracking.experiment`` (default:
  the sweep's study name, so a sweep's trials are grouped; else ``supersweep``), tagged with the
  trial number; ``tracking.mlflow_uri`` (default: MLflow's own, ``$MLFLOW_TRACKING_URI``;
  MLflow 3 refuses its old file store, so give a database, e.g. ``sqlite:///mlflow.db``).

Only numbers and config values are logged: no storage URL (it may hold a password) is.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from training.checks import ConfigError
from training.contract import RunStatus
from training.parts import RunPart

log = logging.getLogger(__name__)

# never logged: the sweeper's bridge node holds the storage URL, and where a run is tracked
# (tracking.mlflow_uri may hold a password) does not change what it trains
SECRET_KEYS = ("trial", "tracking")
# an unreachable tracking server fails the run in seconds, not after MLflow's minutes of retries
MLFLOW_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def flat_params(cfg: DictConfig) -> dict[str, Any]:
    """The run's config as ``{dotted.key: value}`` (scalars), without Hydra's or the trial's node."""
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if prefix or k not in ("hydra", *SECRET_KEYS):
                    walk(v, f"{prefix}{k}.")
        elif isinstance(node, (int, float, str, bool)) or node is None:
            out[prefix[:-1]] = node
        else:
            out[prefix[:-1]] = str(node)

    walk(container, "")
    return out


def _first_use_lock(uri: Any) -> Any:
    """Two jobs that open a new ``sqlite:///`` MLflow store at once both run its schema migration
    and one fails: a file lock next to the database lets one create it, then the other use it."""
    import contextlib
    import fcntl

    if not (isinstance(uri, str) and uri.startswith("sqlite:///")):
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def locked() -> Any:
        path = Path(uri.removeprefix("sqlite:///")).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{path}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    return locked()


def _redact(text: str) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host`` in an error message."""
    import re

    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


# how long the pre-check waits for a tracking server or database that does not answer
REACH_TIMEOUT_S = 5


def check_tracker(cfg: DictConfig) -> None:
    """``tracking.mlflow=true``: a tracking URI that cannot work is one line before any job
    runs, not a failed first trial (or two minutes of MLflow's own retries): MLflow's file
    store, which MLflow 3 refuses, and a database or server that does not answer within
    ``REACH_TIMEOUT_S``. Checked once per URI in a process; the password never printed."""
    import os

    t = cfg.get("tracking") or {}
    if not t.get("mlflow"):
        return
    uri = t.get("mlflow_uri") or os.environ.get("MLFLOW_TRACKING_URI")
    if isinstance(uri, str) and uri:
        _check_reachable(uri, os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() == "true")


@functools.cache
def _check_reachable(uri: str, file_store_allowed: bool) -> None:
    from urllib.parse import urlsplit

    scheme = urlsplit(uri).scheme.split("+")[0]
    shown = _redact(uri)
    if scheme in ("", "file") and not file_store_allowed:
        raise ConfigError(
            f"tracking.mlflow_uri={shown}: MLflow 3 refuses its file store (a directory); give a "
            "database, e.g. tracking.mlflow_uri=sqlite:///<dir>/mlflow.db (or set "
            "MLFLOW_ALLOW_FILE_STORE=true)."
        )
    try:
        if scheme in ("postgresql", "mysql"):
            import sqlalchemy

            engine = sqlalchemy.create_engine(
                uri, connect_args={"connect_timeout": REACH_TIMEOUT_S}
            )
            try:
                engine.connect().close()
            finally:
                engine.dispose()
        elif scheme in ("http", "https"):
            import urllib.request

            urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=REACH_TIMEOUT_S).close()
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise ConfigError(
            f"tracking.mlflow_uri={shown} does not answer ({type(e).__name__}: {_redact(first)}); "
            "nothing ran."
        ) from None


def _numbers(d: dict) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in d.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


class TensorBoardTracker(RunPart):
    def __init__(self, cfg: DictConfig, out_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "tracking.tensorboard=true needs the tensorboard package (pip install -e .[tracking])."
            ) from None
        try:
            self.writer = SummaryWriter(log_dir=str(out_dir / "tensorboard"))
        except OSError as e:  # a file of that name, a read-only or full disk
            raise ConfigError(
                f"tracking.tensorboard: cannot create {out_dir / 'tensorboard'} ({e.strerror or e})."
            ) from None
        self.params = {k: v if v is not None else "null" for k, v in flat_params(cfg).items()}

    def __call__(self, metrics: dict) -> None:
        for k, v in _numbers(metrics).items():
            if k != "epoch":
                self.writer.add_scalar(k, v, int(metrics["epoch"]))
        self.writer.flush()

    def on_summary(self, summary: dict) -> None:
        self.writer.add_hparams(
            {k: v for k, v in self.params.items() if isinstance(v, (int, float, str, bool))},
            {f"summary/{k}": v for k, v in _numbers(summary).items()},
            run_name=".",
        )
        self.writer.close()


class MlflowTracker(RunPart):
    def __init__(self, cfg: DictConfig, out_dir: Path) -> None:
        try:
            import mlflow
        except ImportError:
            raise ConfigError(
                "tracking.mlflow=true needs the mlflow package (pip install -e .[tracking])."
            ) from None
        import os

        for key, value in MLFLOW_ENV.items():
            os.environ.setdefault(key, value)
        t = cfg.tracking
        trial = cfg.get("trial") or {}
        name = t.get("experiment") or trial.get("study") or "supersweep"
        try:
            with _first_use_lock(t.get("mlflow_uri")):
                client = mlflow.MlflowClient(tracking_uri=t.get("mlflow_uri"))
                found = client.get_experiment_by_name(name)
                experiment = found.experiment_id if found else client.create_experiment(name)
        except Exception as e:  # an unknown scheme, a server that does not answer, a locked db
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise ConfigError(
                f"tracking.mlflow_uri: MLflow cannot be used there ({type(e).__name__}: {_redact(first)})."
            ) from None
        tags = {"run_dir": str(out_dir)}
        run_name = out_dir.name
        if trial:
            tags.update({"study": str(trial.get("study")), "trial": str(trial.get("number"))})
            run_name = f"trial {trial.get('number')}"
            if trial.get("rung"):  # a short run before the full one: its budget
                rung = f"{OmegaConf.select(cfg, 'sweep_keys.budget', default='epochs')}={trial.get('rung')}"
                tags["rung"] = rung
                run_name += f" rung {rung}"
        self.client, self.run = client, client.create_run(experiment, tags=tags, run_name=run_name)
        if trial:  # where the sweeper tags what it decided on this run (promoted, pruned, kept)
            written = OmegaConf.to_container(t, resolve=False).get("mlflow_uri")  # type: ignore[union-attr]
            (out_dir / RUN_REF).write_text(
                json.dumps({"run_id": self.run.info.run_id, "tracking_uri": written})
            )  # as written: ${oc.env:VAR} stays a placeholder, a literal password is refused
        for k, v in flat_params(cfg).items():
            client.log_param(self.run.info.run_id, k[:250], str(v)[:6000])

    def __call__(self, metrics: dict) -> None:
        step = int(metrics["epoch"])

        def log_epoch() -> None:
            for k, v in _numbers(metrics).items():
                if k != "epoch":
                    self.client.log_metric(self.run.info.run_id, k, v, step=step)

        self._unless_broken(f"epoch {step}", log_epoch)

    def on_summary(self, summary: dict) -> None:
        rid = self.run.info.run_id

        def log_summary() -> None:
            for k, v in _numbers(summary).items():
                self.client.log_metric(rid, f"summary.{k}", v)
            self.client.set_tag(rid, "status", str(summary.get("status")))
            # stopped by the pruner: not a fault
            ended: dict[str, str] = {RunStatus.COMPLETED: "FINISHED", RunStatus.PRUNED: "KILLED"}
            self.client.set_terminated(rid, ended.get(str(summary.get("status")), "FAILED"))

        self._unless_broken("the summary", log_summary)

    def _unless_broken(self, what: str, call: Any) -> None:
        """A tracker that stops answering mid-run is one warning; the run (and its trial's
        result) goes on without it: a tracking server never costs the training."""
        if getattr(self, "broken", False):
            return
        try:
            call()
        except Exception as e:
            self.broken = True
            first = (str(e).strip().splitlines() or [""])[0][:200]
            log.warning(
                f"tracking.mlflow_uri: MLflow stopped answering at {what} ({type(e).__name__}: "
                f"{_redact(first)}); the run goes on without it"
            )


RUN_REF = "mlflow_run.json"  # in a sweep's job dir: the job's MLflow run, for the sweeper's tag


def tag_decision(job_dir: Path, decision: str) -> str | None:
    """Tag the MLflow run of a sweep's job with what the sweeper decided on it (``sweeper`` =
    promoted, paused, pruned, collapsed, kept, failed), and write it as the text ``sweeper`` into
    the job's TensorBoard run. A job without tracking is left alone; a tracker that cannot be
    reached is a warning (the decision stands in the study). Returns the warning, or None."""
    _tensorboard_decision(job_dir / "tensorboard", decision)
    ref = job_dir / RUN_REF
    if not ref.is_file():
        return None
    try:
        info = json.loads(ref.read_text())
        uri = OmegaConf.create({"uri": info.get("tracking_uri")}).uri  # resolves ${oc.env:VAR}
        import mlflow

        mlflow.MlflowClient(tracking_uri=uri).set_tag(info["run_id"], "sweeper", decision)
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        return f"{job_dir.name}: MLflow tag sweeper={decision} not set ({type(e).__name__}: {_redact(first)})"
    return None


def _tensorboard_decision(log_dir: Path, decision: str) -> None:
    """The sweeper's decision as a text entry of the job's TensorBoard run (its own events
    file beside the run's: TensorBoard reads every file of a run dir)."""
    if not log_dir.is_dir():
        return
    try:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(log_dir), filename_suffix=".sweeper")
        writer.add_text("sweeper", decision)
        writer.close()
    except Exception:  # a full disk, no tensorboard: the decision stands in the study
        return


def make_trackers(cfg: DictConfig, out_dir: Path) -> list:
    t = cfg.get("tracking") or {}
    out: list = []
    if t.get("tensorboard"):
        out.append(TensorBoardTracker(cfg, out_dir))
    if t.get("mlflow"):
        out.append(MlflowTracker(cfg, out_dir))
    return out
