"""Which params matter: PED-ANOVA (Watanabe, Bansal & Hutter, IJCAI 2023, arXiv 2304.10255).

A param matters as far as the trials in the top ``quantile`` (gamma') of the objective are
distributed differently over it from all trials (gamma = 1): its importance is the Pearson
divergence of the two Parzen estimates, ``sum(p_top**2 / p_all) - 1`` on a grid across the
values the trials took (in log10 for a log param: an adaptive design's space spans decades no
trial went to), normalized over the params to sum to 1. A param the trials took at few values
(a grid, a design's levels, seeds) is counted over those values, like a categorical one. Written here
from the paper's definition in numpy (Optuna's evaluator brings scikit-learn and matplotlib in
with its package: over a second of a report's start-up); ``tests/test_importance.py`` checks
that it ranks params as Optuna's ``PedAnovaImportanceEvaluator`` does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

GRID = 50  # points across a numerical param's range, as Optuna's evaluator uses
MAX_LEVELS = 20  # at most this many distinct values (and 1 per 5 trials): counted, not smoothed


@dataclass(frozen=True)
class Param:
    """One searched param: its values per trial, log or not, ``choices`` for a categorical."""

    values: Sequence[object]
    log: bool = False
    choices: Sequence[object] | None = None


def ped_anova(
    params: Mapping[str, Param], loss: Sequence[float], quantile: float = 0.1
) -> dict[str, float]:
    """Importances (summing to 1, largest first) of ``params`` for a ``loss`` that is low when good."""
    loss_arr = np.asarray(loss, dtype=float)
    n = len(loss_arr)
    if n < 2:
        raise ValueError(f"importance needs at least 2 trials, got {n}")
    cut = np.partition(loss_arr, math.ceil(quantile * n) - 1)[math.ceil(quantile * n) - 1]
    top = loss_arr <= cut
    raw = {name: _divergence(p, top) for name, p in params.items()}
    total = sum(raw.values())
    scores = {k: (v / total if total > 0 else 1 / len(raw)) for k, v in raw.items()}
    return dict(sorted(scores.items(), key=lambda kv: -kv[1]))


def _divergence(p: Param, top: np.ndarray) -> float:
    choices = p.choices if p.choices is not None else _levels(p.values)
    if choices is not None:
        idx = np.array([list(choices).index(v) for v in p.values])
        all_p, top_p = (_frequencies(idx[m], len(choices)) for m in (np.ones_like(top), top))
    else:
        x = np.asarray(p.values, dtype=float)
        if p.log:
            x = np.log10(x)
        lo, hi = float(x.min()), float(x.max())
        if hi <= lo:  # one value: it cannot tell trials apart
            return 0.0
        grid = np.linspace(lo, hi, GRID)
        all_p, top_p = _parzen(x, grid, lo, hi), _parzen(x[top], grid, lo, hi)
    seen = all_p > 0  # the top trials are among all: where all_p underflows, so does top_p
    return float(np.sum(top_p[seen] ** 2 / all_p[seen]) - 1.0)


def _levels(values: Sequence[object]) -> list | None:
    """The values a numerical param took when they are few (a grid, a design's lr levels,
    seeds): counted as choices. Kernels over a handful of points would score the top trials'
    smaller sample (a wider Scott bandwidth) as a different distribution."""
    distinct = sorted(set(values))  # type: ignore[type-var]
    return distinct if len(distinct) <= min(MAX_LEVELS, len(values) / 5) else None


def _frequencies(idx: np.ndarray, k: int) -> np.ndarray:
    counts = np.bincount(idx, minlength=k) + 1.0 / k  # a weak uniform prior: no empty choice
    return counts / counts.sum()


def _parzen(x: np.ndarray, grid: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Gaussian kernels of Scott's bandwidth, at least one grid step wide, as mass on ``grid``."""
    n = len(x)
    spread = np.std(x)
    q75, q25 = np.percentile(x, [75, 25])
    if q75 > q25:
        spread = min(spread, (q75 - q25) / 1.34)
    bandwidth = max(1.059 * spread * n ** (-0.2), (hi - lo) / (GRID - 1))
    density = np.exp(-0.5 * ((grid[:, None] - x[None, :]) / bandwidth) ** 2).sum(axis=1)
    return density / density.sum()
