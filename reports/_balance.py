"""The regularization-balance analysis: how the best weight decay moves with the peak lr.

Smith's claim: a larger learning rate regularizes, so the best weight decay falls as
``max_lr`` rises. From runs at many ``(max_lr, wd)`` points (an Optuna study or a Hydra
grid; several seeds per cell welcome) this estimates, at each lr level, the wd with the
best *smoothed* objective - a Gaussian-kernel average over neighbouring runs and seeds in
(log lr, log wd), not one run's argmax - and fits the slope of log10(best wd) against
log10(max_lr). Uncertainty comes from a bootstrap over runs (resampled with replacement,
the whole estimate redone each time): percentile intervals for every level's best wd and
for the slope. The verdict in words follows the slope's interval, and a best wd on the
edge of the searched range is flagged (the true optimum may lie outside it).

Runs that diverged or collapsed count as the worst objective value seen: they say that
point is bad, which a kernel average must not forget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["BalanceResult", "Level", "analyze_balance", "smoothed_surface"]

CONTINUOUS = 12  # more distinct values than this: the axis is continuous (binned into lr levels)
GRID_POINTS = 121  # wd values the smoothed curve is evaluated at, over the searched range


@dataclass
class Level:
    lr: float  # the level's max_lr (its value, or its bin's geometric centre)
    runs: int
    best_wd: float  # argmax of the smoothed objective over the searched wd range
    best_wd_ci: tuple[float, float]  # bootstrap percentile interval
    best_value: float  # the smoothed objective there
    edge: str | None  # "low" | "high" when best_wd sits on that edge of the searched wd range


@dataclass
class BalanceResult:
    metric: str
    maximize: bool
    runs: int
    levels: list[Level]
    slope: float | None  # d log10(best wd) / d log10(max_lr)
    slope_ci: tuple[float, float] | None
    confidence: float
    bootstrap: int
    verdict: str
    warnings: list[str] = field(default_factory=list)
    wd_range: tuple[float, float] = (math.nan, math.nan)
    lr_range: tuple[float, float] = (math.nan, math.nan)
    bandwidth: dict[str, float] = field(default_factory=dict)  # kernel widths in decades

    def as_dict(self) -> dict:
        return asdict(self)


def _bandwidth(logs: np.ndarray) -> float:
    """Kernel width in decades: 0.6 x the spacing of a grid's levels, or range/8 for a continuous axis."""
    distinct = np.unique(np.round(logs, 6))
    if len(distinct) < 2:
        return 1.0
    if len(distinct) > CONTINUOUS:
        return float(max((distinct[-1] - distinct[0]) / 8, 1e-3))
    return float(0.6 * np.median(np.diff(distinct)))


def _levels(log_lr: np.ndarray, n_bins: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """``(centres, index of each run's level)``: a grid's own levels, or quantile bins of a continuous axis."""
    distinct = np.unique(np.round(log_lr, 6))
    if len(distinct) <= CONTINUOUS:
        idx = np.searchsorted(distinct, np.round(log_lr, 6))
        return distinct, idx
    edges = np.quantile(log_lr, np.linspace(0, 1, n_bins + 1))
    idx = np.clip(np.searchsorted(edges, log_lr, side="right") - 1, 0, n_bins - 1)
    centres = np.array([log_lr[idx == b].mean() for b in range(n_bins)])
    return centres, idx


def _best_wd(log_lr, log_wd, value, centres, grid, h_lr, h_wd) -> tuple[np.ndarray, np.ndarray]:
    """Per lr level: the wd grid point with the best kernel-smoothed value, and that value."""
    w_lr = np.exp(-0.5 * ((centres[:, None] - log_lr[None, :]) / h_lr) ** 2)  # (levels, runs)
    w_wd = np.exp(-0.5 * ((grid[:, None] - log_wd[None, :]) / h_wd) ** 2)  # (grid, runs)
    w = w_lr[:, None, :] * w_wd[None, :, :]  # (levels, grid, runs)
    total = w.sum(-1)
    smooth = np.where(total > 1e-12, (w * value).sum(-1) / np.maximum(total, 1e-12), -np.inf)
    best = smooth.argmax(1)
    return grid[best], smooth[np.arange(len(centres)), best]


def smoothed_surface(
    lr: Sequence[float],
    wd: Sequence[float],
    value: Sequence[float | None],
    *,
    maximize: bool,
    points: int = 40,
) -> dict:
    """The kernel-smoothed objective on a log-spaced ``points`` x ``points`` mesh over the runs'
    range, with the analysis' bandwidths (for the balance map's heatmap)."""
    log_lr, log_wd, signed = _prepared(lr, wd, value, maximize)
    h_lr, h_wd = _bandwidth(log_lr), _bandwidth(log_wd)
    g_lr = np.linspace(log_lr.min(), log_lr.max(), points)
    g_wd = np.linspace(log_wd.min(), log_wd.max(), points)
    w = np.exp(-0.5 * ((g_lr[None, :, None] - log_lr) / h_lr) ** 2) * np.exp(
        -0.5 * ((g_wd[:, None, None] - log_wd) / h_wd) ** 2
    )  # (wd, lr, runs)
    z = (w * signed).sum(-1) / np.maximum(w.sum(-1), 1e-12)
    return {
        "lr": (10**g_lr).tolist(),
        "wd": (10**g_wd).tolist(),
        "value": (z if maximize else -z).tolist(),
    }


def _prepared(
    lr: Sequence[float], wd: Sequence[float], value: Sequence[float | None], maximize: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log10 lr, log10 wd and the objective signed so that larger is better; runs without a
    value (diverged, collapsed) count as the worst value seen."""
    lr_a, wd_a = np.asarray(lr, dtype=float), np.asarray(wd, dtype=float)
    v = np.array([math.nan if x is None else float(x) for x in value])
    if not (len(lr_a) == len(wd_a) == len(v)):
        raise ValueError(
            f"lr, wd and value must have equal lengths, got {len(lr_a)}, {len(wd_a)}, {len(v)}."
        )
    keep = (lr_a > 0) & (wd_a > 0)
    lr_a, wd_a, v = lr_a[keep], wd_a[keep], v[keep]
    finite = np.isfinite(v)
    if finite.sum() < 2:
        raise ValueError(
            f"the balance analysis needs at least 2 finished runs with max_lr > 0 and wd > 0, got {int(finite.sum())}."
        )
    signed = v if maximize else -v
    signed = np.where(finite, signed, np.min(signed[finite]))
    return np.log10(lr_a), np.log10(wd_a), signed


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


def analyze_balance(
    lr: Sequence[float],
    wd: Sequence[float],
    value: Sequence[float | None],
    *,
    metric: str,
    maximize: bool,
    bootstrap: int = 300,
    confidence: float = 0.9,
    seed: int = 0,
    min_levels: int = 3,
) -> BalanceResult:
    """Best wd per lr level with intervals, the slope of the balance line, a verdict.

    Args:
        lr, wd: each run's peak lr and weight decay (> 0).
        value: each run's objective; None or NaN for a run that diverged or collapsed
            (it counts as the worst value seen).
        metric, maximize: the objective's name and direction.
        bootstrap: resamples of the runs for the intervals.
        confidence: the intervals' coverage (0.9: the 5th and 95th percentiles).
        min_levels: fewer lr levels than this give no slope.
    """
    log_lr, log_wd, signed = _prepared(lr, wd, value, maximize)  # larger is better from here on
    h_lr, h_wd = _bandwidth(log_lr), _bandwidth(log_wd)
    centres, level_of = _levels(log_lr)
    grid = np.linspace(log_wd.min(), log_wd.max(), GRID_POINTS)
    best, best_val = _best_wd(log_lr, log_wd, signed, centres, grid, h_lr, h_wd)

    rng = np.random.default_rng(seed)
    n = len(signed)
    boot_best = np.empty((bootstrap, len(centres)))
    boot_slope = np.empty(bootstrap)
    boot_top = np.empty(bootstrap, dtype=int)  # the best lr level in each resample
    for b in range(bootstrap):
        pick = rng.integers(0, n, n)
        boot_best[b], boot_val = _best_wd(
            log_lr[pick], log_wd[pick], signed[pick], centres, grid, h_lr, h_wd
        )
        boot_slope[b] = _slope(centres, boot_best[b]) if len(centres) >= 2 else math.nan
        boot_top[b] = int(np.argmax(boot_val))
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(boot_best, [tail, 100 - tail], axis=0)

    edge_tol = 0.25 * (grid[1] - grid[0]) + 1e-9
    middle = (grid[0] + grid[-1]) / 2
    levels = []
    for i, c in enumerate(centres):
        # on an edge, and the interval agrees (a flat surface's interval spans the range: no claim)
        edge = (
            "high"
            if best[i] >= grid[-1] - edge_tol and lo[i] > middle
            else "low"
            if best[i] <= grid[0] + edge_tol and hi[i] < middle
            else None
        )
        levels.append(
            Level(
                lr=float(10**c),
                runs=int((level_of == i).sum()),
                best_wd=float(10 ** best[i]),
                best_wd_ci=(float(10 ** lo[i]), float(10 ** hi[i])),
                best_value=float(best_val[i] if maximize else -best_val[i]),
                edge=edge,
            )
        )

    warnings = []
    for side, word in (("high", "above"), ("low", "below")):
        at_edge = [lv for lv in levels if lv.edge == side]
        if at_edge:
            bound = 10 ** (grid[-1] if side == "high" else grid[0])
            lrs = ", ".join(f"{lv.lr:.3g}" for lv in at_edge)
            warnings.append(
                f"best wd sits on the {'upper' if side == 'high' else 'lower'} edge of the searched range at max_lr {lrs}: extend wd {word} {bound:.3g}"
            )
    overall = int(np.argmax(best_val))
    if (
        len(centres) >= 2
        and overall in (0, len(centres) - 1)
        and np.mean(boot_top == overall) >= confidence
    ):
        word = "below" if overall == 0 else "above"
        warnings.append(
            f"the best lr level is the {'lowest' if overall == 0 else 'highest'} searched ({levels[overall].lr:.3g}): extend max_lr {word} it"
        )

    slope = slope_ci = None
    pct = f"{confidence:.0%}"
    if len(centres) < min_levels:
        verdict = f"not enough evidence: {len(centres)} lr level(s), at least {min_levels} are needed for a slope ({n} runs)"
    else:
        slope = _slope(centres, best)
        s_lo, s_hi = np.nanpercentile(boot_slope, [tail, 100 - tail])
        slope_ci = (float(s_lo), float(s_hi))
        what = f"slope {slope:+.2f} [{s_lo:+.2f}, {s_hi:+.2f}] ({pct} bootstrap interval) over {len(centres)} lr levels, {n} runs"
        if s_hi < 0:
            verdict = f"larger lr wants smaller wd: {what}"
        elif s_lo > 0:
            verdict = f"larger lr wants larger wd: {what}"
        else:
            verdict = f"not enough evidence: {what}; the interval includes 0"
        if warnings and any(lv.edge for lv in levels):
            verdict += " (some best wds sit on the edge of the searched range: see warnings)"
    return BalanceResult(
        metric=metric,
        maximize=maximize,
        runs=n,
        levels=levels,
        slope=slope,
        slope_ci=slope_ci,
        confidence=confidence,
        bootstrap=bootstrap,
        verdict=verdict,
        warnings=warnings,
        wd_range=(float(10 ** log_wd.min()), float(10 ** log_wd.max())),
        lr_range=(float(10 ** log_lr.min()), float(10 ** log_lr.max())),
        bandwidth={"log10_lr": h_lr, "log10_wd": h_wd},
    )
