"""Learning-rate and momentum schedules as pure functions of the optimizer step.

A :class:`Schedule` maps an integer step to ``(lr, momentum)``; ``momentum`` is
``None`` when the schedule leaves the optimizer's momentum alone. Schedules are
built from a few primitives (``anneal_*`` curves joined by :func:`piecewise`,
sequenced by :func:`chain`), in the spirit of fastai's ``combine_scheds``. The
training loop owns the step counter, so resuming needs nothing but ``step``.

Every builder takes ``total_steps`` and ``steps_per_epoch`` keyword arguments
(filled in by the loop once the data size is known) plus its own parameters,
which come from ``conf/schedule/<name>.yaml``. Adding a schedule is one builder
here and one YAML file there.

Parity: given the same parameters, :func:`one_cycle`, :func:`triangular`,
:func:`triangular2`, :func:`exp_range` and :func:`sgdr` equal
``torch.optim.lr_scheduler.OneCycleLR``, ``CyclicLR`` and
``CosineAnnealingWarmRestarts`` at every step (``tests/test_schedules.py``).
Our *defaults* follow fastai where the two differ (see ``conf/schedule/``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from training.checks import ConfigError

StepFn = Callable[[int], float]  # a value per optimizer step
Anneal = Callable[[float, float, float], float]

__all__ = [
    "Schedule",
    "anneal_cos",
    "anneal_exp",
    "anneal_linear",
    "chain",
    "constant",
    "cosine",
    "exp_range",
    "one_cycle",
    "piecewise",
    "sgdr",
    "step",
    "triangular",
    "triangular2",
    "with_warmup",
]


# --- primitives: start -> end as pos goes 0 -> 1 (same float ops as torch) ---


def anneal_cos(start: float, end: float, pos: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pos) + 1)


def anneal_linear(start: float, end: float, pos: float) -> float:
    return (end - start) * pos + start


def anneal_exp(start: float, end: float, pos: float) -> float:
    return start * (end / start) ** pos


ANNEALS: dict[str, Anneal] = {"cos": anneal_cos, "linear": anneal_linear, "exp": anneal_exp}


def piecewise(knots: Sequence[float], values: Sequence[float], anneals: Sequence[Anneal]) -> StepFn:
    """A curve through ``values`` at step ``knots``, segment ``i`` shaped by ``anneals[i]``.

    A step belongs to the first segment whose end knot it does not pass (the last
    segment extends beyond its end), exactly as ``OneCycleLR`` assigns phases.
    """
    if not (len(knots) == len(values) == len(anneals) + 1):
        raise ConfigError(
            f"need len(knots) == len(values) == len(anneals) + 1, got {len(knots)=}, {len(values)=}, {len(anneals)=}."
        )

    def curve(step: int) -> float:
        for i, anneal in enumerate(anneals):
            if step <= knots[i + 1] or i == len(anneals) - 1:
                span = knots[i + 1] - knots[i]
                pos = (step - knots[i]) / span if span else 1.0
                return anneal(values[i], values[i + 1], pos)
        raise AssertionError("unreachable")

    return curve


@dataclass(frozen=True)
class Schedule:
    """``lr(step)`` and optionally ``momentum(step)`` (beta1 for Adam-style optimizers)."""

    lr: StepFn
    momentum: StepFn | None = None

    def __call__(self, step: int) -> tuple[float, float | None]:
        return self.lr(step), (self.momentum(step) if self.momentum is not None else None)


def chain(parts: Sequence[tuple[int, Schedule]], last: Schedule) -> Schedule:
    """Run each ``(n_steps, schedule)`` in turn from its own step 0, then ``last``."""
    starts = [0]
    for n, _ in parts:
        starts.append(starts[-1] + n)
    scheds = [s for _, s in parts] + [last]

    def pick(step: int) -> tuple[Schedule, int]:
        i = bisect.bisect_right(starts, step) - 1
        return scheds[i], step - starts[i]

    def lr(step: int) -> float:
        s, local = pick(step)
        return s.lr(local)

    has_momentum = any(s.momentum is not None for s in scheds)

    def momentum(step: int) -> float | None:
        s, local = pick(step)
        return s.momentum(local) if s.momentum is not None else None

    return Schedule(lr, momentum if has_momentum else None)  # type: ignore[arg-type]


def with_warmup(
    make: Callable[..., Schedule],
    *,
    total_steps: int,
    steps_per_epoch: int,
    warmup_steps: int,
    start_factor: float = 0.0,
) -> Schedule:
    """Prepend a linear warmup segment to any schedule builder.

    The wrapped schedule runs for the remaining ``total_steps - warmup_steps``;
    warmup rises linearly from ``start_factor * lr0`` to its first lr ``lr0``.
    """
    if warmup_steps < 0 or warmup_steps >= total_steps:
        raise ConfigError(
            f"warmup_epochs must leave at least one step after warmup, got {warmup_steps=} of {total_steps=}."
        )
    main = make(total_steps=total_steps - warmup_steps, steps_per_epoch=steps_per_epoch)
    if warmup_steps == 0:
        return main
    lr0, mom0 = main(0)
    warm = Schedule(
        piecewise([0, warmup_steps], [start_factor * lr0, lr0], [anneal_linear]),
        (lambda _s: mom0) if mom0 is not None else None,
    )
    return chain([(warmup_steps, warm)], main)


# --- checks shared by builders (errors name the config key) ---


def _positive(key: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ConfigError(f"schedule.{key} must be a finite number > 0, got {value!r}.")


def _in_open_unit(key: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0 < value < 1):
        raise ConfigError(f"schedule.{key} must be in (0, 1), got {value!r}.")


def _choice(key: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"schedule.{key} must be one of {list(allowed)}, got {value!r}.")


def _momenta(cycle_momentum: bool, base_momentum: float, max_momentum: float) -> None:
    if cycle_momentum and not 0 <= base_momentum <= max_momentum < 1:
        raise ConfigError(
            f"schedule.base_momentum and schedule.max_momentum must satisfy 0 <= base <= max < 1, got ({base_momentum=}, {max_momentum=})."
        )


def _epochs_to_steps(key: str, epochs: float, steps_per_epoch: int) -> int:
    _positive(key, epochs)
    return max(1, round(epochs * steps_per_epoch))


# --- schedules ---


def constant(*, total_steps: int, steps_per_epoch: int, max_lr: float) -> Schedule:
    """Fixed lr ``max_lr``; momentum left to the optimizer."""
    _positive("max_lr", max_lr)
    return Schedule(lambda _s: max_lr)


def step(
    *,
    total_steps: int,
    steps_per_epoch: int,
    max_lr: float,
    milestones: Sequence[float],
    gamma: float,
) -> Schedule:
    """Piecewise constant: multiply by ``gamma`` at each milestone (fraction of training),
    as ``MultiStepLR`` does at ``round(fraction * total_steps)``."""
    _positive("max_lr", max_lr)
    _positive("gamma", gamma)
    for m in milestones:
        _in_open_unit("milestones[]", m)
    if list(milestones) != sorted(milestones):
        raise ConfigError(
            f"schedule.milestones must be increasing fractions of training, got {list(milestones)}."
        )
    at = [round(m * total_steps) for m in milestones]
    return Schedule(lambda s: max_lr * gamma ** bisect.bisect_right(at, s))


def cosine(*, total_steps: int, steps_per_epoch: int, max_lr: float, final_lr: float) -> Schedule:
    """Half-cosine from ``max_lr`` to ``final_lr`` over training (``CosineAnnealingLR``, T_max=total)."""
    _positive("max_lr", max_lr)
    if final_lr < 0:
        raise ConfigError(f"schedule.final_lr must be >= 0, got {final_lr!r}.")
    return Schedule(piecewise([0, total_steps], [max_lr, final_lr], [anneal_cos]))


def one_cycle(
    *,
    total_steps: int,
    steps_per_epoch: int,
    max_lr: float,
    pct_start: float,
    div: float,
    div_final: float,
    anneal: str,
    three_phase: bool,
    cycle_momentum: bool,
    base_momentum: float,
    max_momentum: float,
) -> Schedule:
    """Smith's one cycle: ``max_lr/div`` -> ``max_lr`` -> ``max_lr/div_final``.

    ``div_final`` divides ``max_lr`` as in fastai; torch's ``final_div_factor``
    divides the *initial* lr, so torch's ``(div_factor=d, final_div_factor=f)``
    is ours ``(div=d, div_final=d*f)``. Phase boundaries follow ``OneCycleLR``.
    Momentum (beta1 for Adam) runs the other way: max -> base -> max.
    """
    _positive("max_lr", max_lr)
    _in_open_unit("pct_start", pct_start)
    _positive("div", div)
    _positive("div_final", div_final)
    _choice("anneal", anneal, list(ANNEALS))
    _momenta(cycle_momentum, base_momentum, max_momentum)
    f = ANNEALS[anneal]
    up = float(pct_start * total_steps) - 1
    lo, final = max_lr / div, max_lr / div_final
    if three_phase:
        knots = [0, up, float(2 * pct_start * total_steps) - 2, total_steps - 1]
        lrs, moms, shapes = (
            [lo, max_lr, lo, final],
            [max_momentum, base_momentum, max_momentum, max_momentum],
            [f, f, f],
        )
    else:
        knots = [0, up, total_steps - 1]
        lrs, moms, shapes = [lo, max_lr, final], [max_momentum, base_momentum, max_momentum], [f, f]
    mom = piecewise(knots, moms, shapes) if cycle_momentum else None
    return Schedule(piecewise(knots, lrs, shapes), mom)


def _cyclic(
    *,
    steps_per_epoch: int,
    max_lr: float,
    div: float,
    step_size_epochs: float,
    step_size_down_epochs: float | None,
    scale: Callable[[float], float],
    scale_by: str,
    cycle_momentum: bool,
    base_momentum: float,
    max_momentum: float,
) -> Schedule:
    """Smith's cyclical LR between ``max_lr/div`` and ``max_lr``, as ``CyclicLR`` computes it."""
    _positive("max_lr", max_lr)
    _positive("div", div)
    _momenta(cycle_momentum, base_momentum, max_momentum)
    up = _epochs_to_steps("step_size_epochs", step_size_epochs, steps_per_epoch)
    down = (
        up
        if step_size_down_epochs is None
        else _epochs_to_steps("step_size_down_epochs", step_size_down_epochs, steps_per_epoch)
    )
    total, ratio, base = up + down, up / (up + down), max_lr / div

    def shape(s: int) -> float:
        """Triangle height in [0, 1] times the amplitude scale."""
        cycle = math.floor(1 + s / total)
        x = 1.0 + s / total - cycle
        tri = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        return tri * scale(cycle if scale_by == "cycle" else s)

    mom = (
        (lambda s: max_momentum - (max_momentum - base_momentum) * shape(s))
        if cycle_momentum
        else None
    )
    return Schedule(lambda s: base + (max_lr - base) * shape(s), mom)


def triangular(*, total_steps: int, steps_per_epoch: int, **kw) -> Schedule:
    """CLR triangular: constant amplitude."""
    return _cyclic(steps_per_epoch=steps_per_epoch, scale=lambda _c: 1.0, scale_by="cycle", **kw)


def triangular2(*, total_steps: int, steps_per_epoch: int, **kw) -> Schedule:
    """CLR triangular2: amplitude halves each cycle."""
    return _cyclic(
        steps_per_epoch=steps_per_epoch,
        scale=lambda c: 1 / (2.0 ** (c - 1)),
        scale_by="cycle",
        **kw,
    )


def exp_range(*, total_steps: int, steps_per_epoch: int, gamma: float, **kw) -> Schedule:
    """CLR exp_range: amplitude ``gamma ** step``."""
    _positive("gamma", gamma)
    return _cyclic(
        steps_per_epoch=steps_per_epoch, scale=lambda s: gamma**s, scale_by="iterations", **kw
    )


def sgdr(
    *,
    total_steps: int,
    steps_per_epoch: int,
    max_lr: float,
    T_0: float,
    T_mult: int,
    eta_min: float,
) -> Schedule:
    """Cosine annealing with warm restarts (Loshchilov & Hutter); ``T_0`` in epochs."""
    _positive("max_lr", max_lr)
    t0 = _epochs_to_steps("T_0", T_0, steps_per_epoch)
    if not (isinstance(T_mult, int) and T_mult >= 1):
        raise ConfigError(f"schedule.T_mult must be an integer >= 1, got {T_mult!r}.")

    def lr(s: int) -> float:
        t, period = s, t0
        while t >= period:  # integer walk: exact where log-based formulas round
            t -= period
            period *= T_mult
        return eta_min + (max_lr - eta_min) * (1 + math.cos(math.pi * t / period)) / 2

    return Schedule(lr)
