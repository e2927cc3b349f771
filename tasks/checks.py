"""Config checks that run before any data is loaded: one-line errors naming the key.

Each check raises :class:`ConfigError` whose message says which key is wrong,
what it holds, and what is allowed.
"""

from __future__ import annotations

import itertools
import math
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig

# objective name -> direction; the run returns summary[objective]
OBJECTIVES = {"best_val_acc": "maximize", "final_val_acc": "maximize", "best_val_loss": "minimize", "final_val_loss": "minimize"}
PRECISIONS = ("auto", "fp32", "bf16")
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


class ConfigError(ValueError):
    """Bad user input, reported as one line before anything runs."""


def check_number(key: str, value: Any, *, low: float, low_inclusive: bool, high: float = math.inf, integer: bool = False) -> None:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or not math.isfinite(value) or value > high or value < low or (value == low and not low_inclusive):
        kind = "an integer" if integer else "a finite number"
        bound = f">= {low}" if low_inclusive else f"> {low}"
        upper = f" and <= {high}" if high != math.inf else ""
        raise ConfigError(f"{key} must be {kind} {bound}{upper}, got {value!r}.")


def check_model_fits_data(model_cfg: DictConfig, data_cfg: DictConfig) -> None:
    """A model's ``spatial_dims`` must match the data's (input_shape minus channels)."""
    model_cls = get_class(model_cfg._target_)
    want = getattr(model_cls, "spatial_dims", None)
    have = len(data_cfg.input_shape) - 1
    if want is not None and want != have:
        kinds = {1: "1-D signals", 2: "2-D images"}
        raise ConfigError(
            f"model ({model_cls.__name__}) takes {kinds.get(want, want)} but data={data_cfg.name} gives {kinds.get(have, have)} "
            f"(input_shape {list(data_cfg.input_shape)}); pick a model for {kinds.get(have, have)} or model=mlp."
        )


def check_run_config(cfg: DictConfig) -> None:
    """The knobs and groups every run shares (conf/common.yaml)."""
    check_number("wd", cfg.wd, low=0, low_inclusive=True)
    check_number("momentum", cfg.momentum, low=0, low_inclusive=True, high=0.999999)
    check_number("batch_size", cfg.batch_size, low=1, low_inclusive=True, integer=True)
    check_number("threads", cfg.threads, low=1, low_inclusive=True, integer=True)
    check_number("seed", cfg.seed, low=0, low_inclusive=True, integer=True)
    check_number("data.val_split", cfg.data.val_split, low=0, low_inclusive=True, high=0.99)
    check_number("regularization.label_smoothing", cfg.regularization.label_smoothing, low=0, low_inclusive=True, high=0.999)
    check_number("regularization.dropout", cfg.regularization.dropout, low=0, low_inclusive=True, high=0.999)
    if cfg.precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {list(PRECISIONS)}, got {cfg.precision!r}.")
    if not DEVICE_PATTERN.fullmatch(str(cfg.device)):
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {cfg.device!r}.")
    check_model_fits_data(cfg.model, cfg.data)


def check_train_config(cfg: DictConfig) -> None:
    """Everything ``tasks.train`` needs, checked from config alone."""
    check_number("max_lr", cfg.max_lr, low=0, low_inclusive=False)
    check_number("epochs", cfg.epochs, low=1, low_inclusive=True, integer=True)
    check_number("warmup_epochs", cfg.warmup_epochs, low=0, low_inclusive=True, high=cfg.epochs - 1e-9)
    if cfg.objective not in OBJECTIVES:
        raise ConfigError(f"objective must be one of {list(OBJECTIVES)}, got {cfg.objective!r}.")
    check_run_config(cfg)
    try:  # dry build: schedule parameters are checked by their own builder
        instantiate(cfg.schedule)(total_steps=100, steps_per_epoch=max(1, 100 // cfg.epochs))
    except ValueError as e:
        raise ConfigError(str(e)) from None


MIN_RANGE_TEST_ITERS = 20  # fastai's trimming drops num_iter//10 + 5 points


def check_range_test_config(cfg: DictConfig) -> None:
    """Everything ``tasks.range_test`` needs, checked from config alone."""
    check_number("start_lr", cfg.start_lr, low=0, low_inclusive=False)
    check_number("end_lr", cfg.end_lr, low=0, low_inclusive=False)
    if cfg.start_lr >= cfg.end_lr:
        raise ConfigError(f"start_lr must be < end_lr, got start_lr={cfg.start_lr} and end_lr={cfg.end_lr}.")
    check_number("num_iter", cfg.num_iter, low=MIN_RANGE_TEST_ITERS, low_inclusive=True, integer=True)
    if cfg.mode not in ("exp", "linear"):
        raise ConfigError(f"mode must be one of ['exp', 'linear'], got {cfg.mode!r}.")
    check_number("smooth", cfg.smooth, low=0, low_inclusive=True, high=0.9999)
    check_number("stop_factor", cfg.stop_factor, low=1, low_inclusive=False)
    check_number("val_every", cfg.val_every, low=0, low_inclusive=True, integer=True)
    check_run_config(cfg)


def check_group_choices(args: Sequence[str], conf_dir: Path) -> None:
    """``group=option`` command-line overrides must name an existing option.

    Hydra would say so too, over a dozen lines; this says it in one. Sweep syntax
    (``choice(...)``, ``glob(...)``) is left to Hydra.
    """
    for arg in args:
        key, sep, value = arg.lstrip("+~").partition("=")
        group = conf_dir / key
        if not sep or "(" in value or not group.is_dir():
            continue
        allowed = sorted(p.stem for p in group.glob("*.yaml"))
        for option in value.split(","):
            if option not in allowed and option != "null":
                raise ConfigError(f"{key}={option} is not an option of '{key}'; allowed: {', '.join(allowed)}.")


@contextmanager
def exit_on_config_error() -> Iterator[None]:
    """Bad input prints ``error: <message>`` (one line, no traceback) and exits 2.

    Used inside Hydra task functions (Hydra would print a traceback) and around
    :func:`check_group_choices` before Hydra starts.
    """
    try:
        yield
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def job_overrides(args: Sequence[str]) -> list[list[str]]:
    """The jobs a basic-sweeper multirun of ``args`` launches (Hydra's grid expansion).

    Only plain config overrides count: flags and ``hydra.*`` are Hydra's own.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    plain = [a for a in args if "=" in a and not a.startswith(("-", "hydra.", "hydra/"))]
    axes = []
    for o in OverridesParser.create().parse_overrides(plain):
        key = o.get_key_element()
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
        axes.append([f"{key}={v}" for v in values])
    return [list(job) for job in itertools.product(*axes)]


def check_each_job(args: Sequence[str], config_name: str, check: Callable[[DictConfig], None]) -> None:
    """Compose and check every job of a multirun before the first one starts."""
    from hydra import compose, initialize_config_dir

    if not {"-m", "--multirun"} & set(args):
        return
    try:
        jobs = job_overrides(args)
    except Exception:  # sweep syntax of another sweeper (interval(), tag()): its own checks apply
        return
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for job in jobs:
            try:
                check(compose(config_name, overrides=job))
            except ConfigError as e:
                raise ConfigError(f"{e} (job {' '.join(job)})") from None
