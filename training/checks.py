"""Config checks that run before any data is loaded: one-line errors naming the key.

Each check raises :class:`ConfigError` whose message says which key is wrong,
what it holds, and what is allowed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf

from training.contract import COMMON_KEYS, NULLABLE_KEYS, OBJECTIVES, TRAIN_KEYS
from training.errors import UserError

PRECISIONS = ("auto", "fp32", "bf16")
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


class ConfigError(UserError):
    """A bad setting, reported as one line before anything runs."""


def is_finite_positive(value: Any) -> bool:
    """A real number (not a bool), finite and > 0: what an lr, a bound or a log-axis value must be."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """A config container as ``{dotted.key: leaf}``; lists and empty mappings are leaves."""
    if isinstance(node, dict) and node:
        return {
            k: v
            for key, child in node.items()
            for k, v in flatten(child, f"{prefix}{key}.").items()
        }
    return {prefix[:-1]: node}


def check_number(
    key: str,
    value: Any,
    *,
    low: float,
    low_inclusive: bool,
    high: float = math.inf,
    integer: bool = False,
) -> None:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if (
        isinstance(value, bool)
        or not ok_type
        or not math.isfinite(value)
        or value > high
        or value < low
        or (value == low and not low_inclusive)
    ):
        kind = "an integer" if integer else "a finite number"
        bound = f">= {low}" if low_inclusive else f"> {low}"
        upper = f" and <= {high}" if high != math.inf else ""
        raise ConfigError(f"{key} must be {kind} {bound}{upper}, got {value!r}.")


def check_model_fits_data(model_cfg: DictConfig, data_cfg: DictConfig) -> None:
    """A model's ``spatial_dims`` must match the data's (input_shape minus channels)."""
    model_cls = user_code("model", lambda: get_object(model_cfg._target_))  # a class or a factory
    want = getattr(model_cls, "spatial_dims", None)
    have = len(data_cfg.input_shape) - 1
    if want is not None and want != have:
        kinds = {1: "1-D signals", 2: "2-D images"}
        raise ConfigError(
            f"model ({model_cls.__name__}) takes {kinds.get(want, want)} but data={data_cfg.name} gives {kinds.get(have, have)} "
            f"(input_shape {list(data_cfg.input_shape)}); pick a model for {kinds.get(have, have)} or model=mlp."
        )


RUN_KEYS = COMMON_KEYS  # the contract's run config table says which keys a run needs
RANGE_TEST_KEYS = ("start_lr", "end_lr", "num_iter", "mode", "smooth", "stop_factor", "val_every")


_CHECKED: set[tuple[str, str]] = set()  # (check, config) pairs that passed in this process


def check_once(cfg: DictConfig, check: Callable[[DictConfig], None]) -> None:
    """``check(cfg)`` unless this process already passed the same config (a multirun's jobs are
    checked before the first one starts, then run in this process: each check runs once)."""
    body = {k: v for k, v in cfg.items() if k != "hydra"}  # Hydra's own node differs per job
    key = (
        check.__qualname__,
        json.dumps(OmegaConf.to_container(OmegaConf.create(body)), sort_keys=True, default=str),
    )
    if key in _CHECKED:
        return
    check(cfg)
    _CHECKED.add(key)


def require(cfg: DictConfig, keys: tuple[str, ...]) -> None:
    """Every key is set (``data=null`` or ``~wd`` would fail deep inside a run otherwise)."""
    missing = [k for k in keys if cfg.get(k) is None and k not in NULLABLE_KEYS]
    if missing:
        raise ConfigError(
            f"{missing[0]} must be set (a run needs {', '.join(missing)}); it was removed or set to null."
        )


def check_run_config(cfg: DictConfig) -> None:
    """The knobs and groups every run shares (conf/common.yaml)."""
    require(cfg, RUN_KEYS)
    check_number("wd", cfg.wd, low=0, low_inclusive=True)
    check_number("momentum", cfg.momentum, low=0, low_inclusive=True, high=0.999999)
    check_number("batch_size", cfg.batch_size, low=1, low_inclusive=True, integer=True)
    check_number("threads", cfg.threads, low=1, low_inclusive=True, integer=True)
    check_number("seed", cfg.seed, low=0, low_inclusive=True, integer=True)
    if "split_seed" in cfg.data:
        check_number(
            "data.split_seed", cfg.data.split_seed, low=0, low_inclusive=True, integer=True
        )
    if OmegaConf.select(cfg, "data.loader.num_workers") is not None:  # streamed Datasets only
        check_number(
            "data.loader.num_workers",
            cfg.data.loader.num_workers,
            low=0,
            low_inclusive=True,
            integer=True,
        )
    check_model_sizes(cfg.model)
    check_number("data.val_split", cfg.data.val_split, low=0, low_inclusive=True, high=0.99)
    check_number(
        "regularization.label_smoothing",
        cfg.regularization.label_smoothing,
        low=0,
        low_inclusive=True,
        high=0.999,
    )
    check_number(
        "regularization.dropout", cfg.regularization.dropout, low=0, low_inclusive=True, high=0.999
    )
    if cfg.precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {list(PRECISIONS)}, got {cfg.precision!r}.")
    if not DEVICE_PATTERN.fullmatch(str(cfg.device)):
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {cfg.device!r}.")
    check_model_fits_data(cfg.model, cfg.data)


def check_model_sizes(model_cfg: DictConfig) -> None:
    """Every size of the model (channels, depth, widths, each hidden layer) is an integer >= 1:
    a 0-channel layer would fail deep inside torch."""
    for key, value in model_cfg.items():
        if key in ("in_shape", "num_classes") or isinstance(value, bool):
            continue
        sizes = list(value) if OmegaConf.is_list(value) else [value]
        if all(isinstance(v, int) for v in sizes) and sizes:
            for v in sizes:
                check_number(f"model.{key!s}", v, low=1, low_inclusive=True, integer=True)


def user_code(key: str, make: Callable[[], Any], keep: tuple[type[BaseException], ...] = ()) -> Any:
    """Build what the config's ``key`` names (``model``, ``data.source``: often one's own code);
    whatever it raises is one line naming the key, the error and the line that raised it (an
    import that fails says so). Errors in ``keep`` (the project's own, already one line) and
    :class:`ConfigError` pass through as they are."""
    import logging
    import traceback
    from pathlib import Path

    passing: tuple[type[BaseException], ...] = (ConfigError, *keep)
    hydra_log = logging.getLogger("hydra.utils")  # it logs a failed import over three lines
    level, hydra_log.level = hydra_log.level, logging.CRITICAL
    try:
        return make()
    except passing:
        raise
    except Exception as e:
        cause: BaseException = e
        while cause.__cause__ is not None and type(cause).__name__ == "InstantiationException":
            cause = cause.__cause__  # Hydra's wrapper: the user's own error is its cause
        if isinstance(cause, ImportError):
            while cause.__cause__ is not None:  # the import that failed, not Hydra's wrapper
                cause = cause.__cause__
            words = (str(cause).strip().splitlines() or [""])[0][:200]
            raise ConfigError(
                f"{key}: its _target_ cannot be imported ({words}); is its package on PYTHONPATH?"
            ) from None
        words = (str(cause).strip().splitlines() or [""])[0][:200]
        frames = traceback.extract_tb(cause.__traceback__) if cause.__traceback__ else []
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        raise ConfigError(f"{key} raised {type(cause).__name__}: {words}{where}") from None
    finally:
        hydra_log.level = level


def check_tracking_uri(cfg: DictConfig) -> None:
    """A password in ``tracking.mlflow_uri`` is refused as written (Hydra would write it into the
    run's ``.hydra/config.yaml``); as ``${oc.env:VAR}`` it stays a placeholder there, and the
    run logs no tracking setting."""
    from urllib.parse import urlsplit

    node = cfg.get("tracking")
    raw = OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else {}
    uri = raw.get("mlflow_uri") if isinstance(raw, dict) else None
    if not isinstance(uri, str) or "${" in uri:
        return
    try:
        secret = urlsplit(uri).password
    except ValueError:
        secret = None
    if secret:
        raise ConfigError(
            "tracking.mlflow_uri holds a password as written: Hydra would store it in the run's "
            "files; give it as '${oc.env:MLFLOW_URI}' (the variable holding the URL)."
        )


def check_train_config(cfg: DictConfig) -> None:
    """Everything ``tasks.train`` needs, checked from config alone."""
    require(cfg, TRAIN_KEYS + RUN_KEYS)
    check_number("max_lr", cfg.max_lr, low=0, low_inclusive=False)
    check_number("epochs", cfg.epochs, low=1, low_inclusive=True, integer=True)
    check_number(
        "warmup_epochs", cfg.warmup_epochs, low=0, low_inclusive=True, high=cfg.epochs - 1e-9
    )
    if cfg.objective not in OBJECTIVES:
        raise ConfigError(f"objective must be one of {list(OBJECTIVES)}, got {cfg.objective!r}.")
    failed_value = cfg.get("failed_objective")
    if failed_value is not None and (
        isinstance(failed_value, bool)
        or not isinstance(failed_value, (int, float))
        or not math.isfinite(failed_value)
    ):
        raise ConfigError(
            f"failed_objective must be null or a finite number, got {failed_value!r}."
        )
    check_number(
        "checkpoint.every", cfg.checkpoint.get("every"), low=0, low_inclusive=True, integer=True
    )
    for key in ("tensorboard", "mlflow"):
        value = (cfg.get("tracking") or {}).get(key, False)
        if not isinstance(value, bool):
            raise ConfigError(f"tracking.{key} must be true or false, got {value!r}.")
    check_tracking_uri(cfg)
    if not isinstance(cfg.lr_estimate, bool):
        raise ConfigError(f"lr_estimate must be true or false, got {cfg.lr_estimate!r}.")
    if not isinstance(cfg.checkpoint.get("final"), bool):
        raise ConfigError(
            f"checkpoint.final must be true or false, got {cfg.checkpoint.get('final')!r}."
        )
    check_run_config(cfg)
    # dry build: schedule parameters are checked by their own builder (it raises ConfigError)
    instantiate(cfg.schedule)(total_steps=100, steps_per_epoch=max(1, 100 // cfg.epochs))


def check_schedule_plot_config(cfg: DictConfig) -> None:
    """``tasks.plot_schedule``: the knobs its schedule is drawn with."""
    check_number("max_lr", cfg.max_lr, low=0, low_inclusive=False)
    check_number("momentum", cfg.momentum, low=0, low_inclusive=True, high=0.999999)
    check_number("epochs", cfg.epochs, low=1, low_inclusive=True, integer=True)
    check_number("steps_per_epoch", cfg.steps_per_epoch, low=1, low_inclusive=True, integer=True)
    check_number(
        "warmup_epochs", cfg.warmup_epochs, low=0, low_inclusive=True, high=cfg.epochs - 1e-9
    )


MIN_RANGE_TEST_ITERS = 20  # fastai's trimming drops num_iter//10 + 5 points


def check_range_test_config(cfg: DictConfig) -> None:
    """Everything ``tasks.range_test`` needs, checked from config alone."""
    require(cfg, RANGE_TEST_KEYS + RUN_KEYS)
    check_number("start_lr", cfg.start_lr, low=0, low_inclusive=False)
    check_number("end_lr", cfg.end_lr, low=0, low_inclusive=False)
    if cfg.start_lr >= cfg.end_lr:
        raise ConfigError(
            f"start_lr must be < end_lr, got start_lr={cfg.start_lr} and end_lr={cfg.end_lr}."
        )
    check_number(
        "num_iter", cfg.num_iter, low=MIN_RANGE_TEST_ITERS, low_inclusive=True, integer=True
    )
    if cfg.mode not in ("exp", "linear"):
        raise ConfigError(f"mode must be one of ['exp', 'linear'], got {cfg.mode!r}.")
    check_number("smooth", cfg.smooth, low=0, low_inclusive=True, high=0.9999)
    check_number("stop_factor", cfg.stop_factor, low=1, low_inclusive=False)
    check_number("val_every", cfg.val_every, low=0, low_inclusive=True, integer=True)
    check_run_config(cfg)
