"""Smith's LR range test: raise the lr every step, record the loss, stop at divergence.

The lr moves from ``start_lr`` to ``end_lr`` over ``num_iter`` steps on the same
exponential/linear primitives the schedules use. The loss is smoothed with a
debiased EMA (fastai's ``beta=0.98``). The test stops when the smoothed loss
exceeds ``stop_factor`` times the best so far, or at once on any non-finite loss
(a loss that jumps straight to NaN: fastai and Lightning keep going on NaN,
because ``NaN > 4 * best`` is false). It trains a model built for it alone, so
nothing it does is seen by a later run.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.checks import is_finite_positive
from training.schedules import anneal_exp, anneal_linear

if TYPE_CHECKING:  # torch loads with the test itself: a report reading range_test.json needs none
    from training.data import Data
    from training.loop import Stepper

MODES = {"exp": anneal_exp, "linear": anneal_linear}
KNOBS = (
    "start_lr",
    "end_lr",
    "num_iter",
    "mode",
    "smooth",
    "stop_factor",
    "val_every",
)  # conf/range_test.yaml
REQUIRED_KEYS = (
    "lrs",
    "losses",
    "smoothed_losses",
    "suggestions",
    "bounds",
    "diverged_at",
    "num_iter",
)


@dataclass
class Recording:
    """What one range test recorded, step by step."""

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed_losses: list[float] = field(default_factory=list)
    val: list[dict] = field(
        default_factory=list
    )  # {iteration, lr, val_loss, val_acc} every val_every steps
    diverged_at: float | None = None
    stop_reason: str = "reached num_iter"
    seconds: float = 0.0


def lr_at(i: int, *, start_lr: float, end_lr: float, num_iter: int, mode: str) -> float:
    """The lr of step ``i``: ``start_lr`` at 0, ``end_lr`` at ``num_iter - 1``."""
    return MODES[mode](start_lr, end_lr, i / (num_iter - 1))


def knobs(cfg) -> dict:
    """The test's own settings from a range_test config, as :func:`run_range_test` kwargs."""
    return {k: cfg[k] for k in KNOBS}


def record(
    step: Callable[[float], float],
    *,
    start_lr: float,
    end_lr: float,
    num_iter: int,
    mode: str,
    smooth: float,
    stop_factor: float,
    after_step: Callable[[int, float], None] | None = None,
) -> Recording:
    """The test itself: ``step(lr)`` trains one batch at ``lr`` and returns its loss (before the
    step); the lr rises every step and the test stops at divergence. Shared by the app's test
    (:func:`run_range_test`) and a user's own loop (:func:`training.range_test.find_lr`)."""
    t0 = time.perf_counter()
    curve = Recording()
    avg, best = 0.0, math.inf
    for i in range(num_iter):
        lr = lr_at(i, start_lr=start_lr, end_lr=end_lr, num_iter=num_iter, mode=mode)
        loss = step(lr)
        curve.lrs.append(lr)
        curve.losses.append(loss)
        if not math.isfinite(loss):
            curve.smoothed_losses.append(math.nan)
            curve.diverged_at, curve.stop_reason = lr, f"non-finite loss ({loss}) at iteration {i}"
            break
        avg = smooth * avg + (1 - smooth) * loss
        smoothed = avg / (1 - smooth ** (i + 1))
        curve.smoothed_losses.append(smoothed)
        best = min(best, smoothed)
        if after_step is not None:
            after_step(i + 1, lr)
        if smoothed > stop_factor * best:
            curve.diverged_at = lr
            curve.stop_reason = (
                f"smoothed loss {smoothed:.4g} > {stop_factor} x best {best:.4g} at iteration {i}"
            )
            break
    curve.seconds = time.perf_counter() - t0
    return curve


def run_range_test(
    stepper: Stepper,
    data: Data,
    *,
    start_lr: float,
    end_lr: float,
    num_iter: int,
    mode: str,
    smooth: float,
    stop_factor: float,
    batch_size: int,
    val_every: int,
) -> Recording:
    """The app's test: batches of ``data`` in seeded epochs through the run's own ``stepper``."""
    from training.loop import batches, evaluate

    model = stepper.model
    model.train()
    val: list[dict] = []
    stream = batches(data, batch_size, stepper.generator)

    def step(lr: float) -> float:
        return stepper(*next(stream), lr, None)[0]

    def validate(i: int, lr: float) -> None:
        if val_every and i % val_every == 0:
            val_loss, val_acc = evaluate(model, data, "val", stepper.precision)
            val.append({"iteration": i, "lr": lr, "val_loss": val_loss, "val_acc": val_acc})
            model.train()

    curve = record(
        step,
        start_lr=start_lr,
        end_lr=end_lr,
        num_iter=num_iter,
        mode=mode,
        smooth=smooth,
        stop_factor=stop_factor,
        after_step=validate,
    )
    curve.val = val
    return curve


def load_range_test(path: str | Path) -> dict:
    """A ``range_test.json`` (the file, or a run dir holding it), checked; errors name the file."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "range_test.json"
    if not p.is_file():
        raise FileNotFoundError(
            f"range test file {p} not found (run python -m tasks.range_test first)."
        )
    try:
        result = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"range test file {p} is not valid JSON ({e}).") from None
    missing = [k for k in REQUIRED_KEYS if not isinstance(result, dict) or k not in result]
    if missing:
        raise ValueError(f"range test file {p} lacks {missing}; is it a range_test.json?")
    if not len(result["lrs"]) == len(result["losses"]) == len(result["smoothed_losses"]):
        raise ValueError(
            f"range test file {p} is corrupt: lrs, losses and smoothed_losses differ in length."
        )
    for key in ("losses", "smoothed_losses"):  # JSON stores non-finite values as null
        result[key] = [math.nan if v is None else v for v in result[key]]
    _check_bounds(result, p)
    return result


def _check_bounds(result: dict, p: Path) -> None:
    b = result["bounds"]
    if not isinstance(b, dict) or "min_lr" not in b or "max_lr" not in b:
        raise ValueError(
            f"range test file {p}: bounds must be a mapping with min_lr and max_lr, got {b!r}."
        )
    check_bounds(b["min_lr"], b["max_lr"], result.get("suggested_max_lr"), f"range test file {p}")


# the largest lr a range test can report: its own sweep ends far below (conf/range_test.yaml
# stops at 10); a bound above this is a corrupt or hand-made file, and every trial would diverge
MAX_LR = 1e4


def check_bounds(low: Any, high: Any, suggested: Any, where: str, allow_null: bool = True) -> None:
    """The one check of max_lr bounds, wherever they come from (a ``range_test.json``, a study's
    stored bounds, a test run before a search): what a search trusts is both null (an unusable
    curve; ``allow_null``), or finite lrs > 0 with min_lr <= max_lr, and a suggestion that is
    null or a finite lr > 0. Python's JSON reader admits NaN and Infinity."""
    null = low is None and high is None
    ordered = is_finite_positive(low) and is_finite_positive(high) and low <= high <= MAX_LR
    if not (ordered or (null and allow_null)):
        allowed = "null or finite lrs" if allow_null else "finite lrs"
        raise ValueError(
            f"{where}: bounds must be {allowed} with 0 < min_lr <= max_lr <= {MAX_LR:g}, got min_lr={low!r}, max_lr={high!r}."
        )
    if suggested is not None and not (is_finite_positive(suggested) and suggested <= MAX_LR):
        raise ValueError(
            f"{where}: suggested_max_lr must be null or a finite lr in (0, {MAX_LR:g}], got {suggested!r}."
        )
