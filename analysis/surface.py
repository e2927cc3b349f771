"""One model of a study's runs: a Gaussian process over (log10 max_lr, log10 wd) and, where rungs
ran short complete runs, the run's length, fitted to every finished run, with its uncertainty.

Every answer a sweep gives reads this model (``analysis.recommend``): the search's end, the
balance study's recommendation, the report's band and ``compare_with``. No Optuna, no Hydra:
runs in, a :class:`Surface` out.

- **Inputs** are scaled to the searched box (log lr and log wd to [0, 1]); a run's length
  enters as ``log(epochs) / log(full epochs)`` (1 = the full run) so a 1-epoch rung informs the
  full-run surface as far as the fitted length scale says it does, and predictions are read at
  the full length.
- **Kernel**: Matern 5/2 with one length scale per input (ARD), a constant mean, hyperparameters
  by maximum a posteriori (marginal likelihood and a weak prior on the length scales) from
  fixed starts (deterministic: a rerun on the same runs gives the same answer).
- **Noise** (one run's seed noise, the metric's units): from seed replicates (runs at the same
  setting) where there are any; otherwise the likelihood's own estimate. Never below the
  metric's sampling error: an accuracy on n validation examples scatters by
  ``sqrt(p (1 - p) / n)``; n is read from the accuracy's smallest step (1/n) when not given.
  Which source was used, and from how many runs, is part of the answer (:class:`Noise`).
- **Failed runs** (diverged, collapsed) count as the worst finished value (or chance, if that
  is lower), and deficits far below the best run are compressed before the fit (``_warped``):
  both say "bad here" without a cliff the stationary kernel would ring on near the top.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import minimize

__all__ = ["Noise", "Run", "Surface", "fit"]

MESH = 41  # points per axis where the band is read
LENGTH_BOUNDS = (0.1, 3.0)  # in units of the searched box (log-scaled)
# a weak log-normal prior on each length scale (centre, sd of the log): hyperparameter surfaces
# vary over fractions of the searched decades, not between neighbouring runs; without it the
# likelihood of a few one-seed runs is often best explained as independent wiggles
LENGTH_PRIOR = (math.log(0.4), 1.0)
REPLICATE_DF = 3  # degrees of freedom seed replicates need before they set the noise
# deficits below the best run beyond the larger of these are compressed (see _warped): 10 x the
# metric's sampling error, 0.5% of the best value (half a point of a 0.95 accuracy)
WARP_NOISE, WARP_SHARE = 3.0, 0.005
# a setting has evidence behind it when the model knows it as well as this many runs would
# (one run's noise variance over the posterior variance): the pick needs SUPPORT_RUNS, a band's
# member BAND_SUPPORT
SUPPORT_RUNS, BAND_SUPPORT = 2.0, 1.0


@dataclass(frozen=True)
class Run:
    lr: float
    wd: float
    value: float | None  # None: the run diverged or collapsed
    epochs: float | None = None  # the run's length; None: the full run


@dataclass(frozen=True)
class Noise:
    sd: float  # one run's seed noise, the metric's units
    source: str  # "seed replicates" | "model fit" | "sampling error"
    runs: int  # runs the estimate rests on
    cells: int = 0  # settings with replicates (source "seed replicates")
    floor: float = 0.0  # the metric's sampling error

    def words(self) -> str:
        if self.source == "seed replicates":
            how = f"from {self.runs} seed replicates at {self.cells} settings"
        elif self.source == "sampling error":
            how = "the validation set's sampling error (the runs scatter less)"
        else:
            how = f"fitted to {self.runs} runs (no seed replicates)"
        return f"one run's seed noise {self.sd:.4f}, {how}"


def is_accuracy(metric: str) -> bool:
    """A share of examples right (binomial sampling error applies): ``*acc*`` metrics."""
    return "acc" in metric.lower()


def sampling_sd(values: Sequence[float], n_val: int | None = None) -> float:
    """The binomial sampling error of an accuracy on the validation set at the runs' best value
    (0 for a metric outside [0, 1]). ``n_val`` from the smallest step between values when not
    given: an accuracy on n examples moves by 1/n."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if not len(v) or v.min() < 0 or v.max() > 1:
        return 0.0
    if n_val is None:
        gaps = np.diff(np.unique(np.round(v, 12)))
        gaps = gaps[gaps > 1e-9]
        if not len(gaps):
            return 0.0
        n_val = max(int(round(1 / gaps.min())), 1)
    p = float(np.max(v))
    return math.sqrt(max(p * (1 - p), 1 / n_val) / n_val)


def _matern52(a: np.ndarray, b: np.ndarray, ls: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.maximum((((a[:, None, :] - b[None, :, :]) / ls) ** 2).sum(-1), 0.0))
    s = math.sqrt(5) * d
    return (1 + s + s * s / 3) * np.exp(-s)


@dataclass
class Surface:
    """The fitted model. ``predict`` takes real max_lr and wd (and epochs; default the full
    run) and returns the mean and the standard deviation of the full-run objective there, in
    the metric's units and direction."""

    metric: str
    maximize: bool
    runs: list[Run]
    lr_range: tuple[float, float]  # searched (log-scaled box)
    wd_range: tuple[float, float]
    full_epochs: float | None
    noise: Noise
    _x: np.ndarray
    _alpha: np.ndarray
    _chol: tuple
    _ls: np.ndarray
    _signal: float  # prior variance, standardized units
    _noise_var: float  # one run's noise variance, standardized units
    _mean: float  # the runs' mean (signed: larger is better)
    _scale: float  # their spread: the model is fitted in standardized units
    _top: float  # the best finished value (signed)
    _warp: float  # deficits below the top are compressed beyond this (see _warped)

    def _unit(self, lr, wd, epochs=None) -> np.ndarray:
        lr, wd = np.atleast_1d(np.asarray(lr, float)), np.atleast_1d(np.asarray(wd, float))
        cols = [_to_unit(lr, self.lr_range), _to_unit(wd, self.wd_range)]
        if self._x.shape[1] == 3:
            full = float(self.full_epochs or 1.0)
            e = np.full_like(lr, full) if epochs is None else np.asarray(epochs, float)
            cols.append(_length(e, self.full_epochs))
        return np.stack(cols, -1)

    def _posterior(self, lr, wd, epochs=None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance in the fitted (warped, standardized) units."""
        u = self._unit(lr, wd, epochs)
        k = self._signal * _matern52(u, self._x, self._ls)
        v = cho_solve(self._chol, k.T)
        return k @ self._alpha, np.maximum(self._signal - (k * v.T).sum(-1), 1e-12)

    def predict(self, lr, wd, epochs=None) -> tuple[np.ndarray, np.ndarray]:
        z, var = self._posterior(lr, wd, epochs)
        warped = self._mean + self._scale * z
        stretch = np.exp((self._top - warped) / self._warp)  # d raw / d warped (delta method)
        sign = 1.0 if self.maximize else -1.0
        return sign * _unwarp(warped, self._top, self._warp), np.sqrt(var) * self._scale * stretch

    def runs_worth(self, lr, wd) -> np.ndarray:
        """How many runs' worth of evidence the model has at each full-length setting: one
        run's noise variance over the posterior variance (under 1 far from every run; at a
        flat surface's every point, many). Noise-free runs count as if their noise were half
        the prior variance: a setting is then known where the runs explain most of it."""
        return max(self._noise_var, 0.5 * self._signal) / self._posterior(lr, wd)[1]

    def supported(self, lr, wd, runs: float = SUPPORT_RUNS) -> np.ndarray:
        """Settings with evidence: at least ``runs`` runs' worth (or, where that holds nowhere,
        the best-known settings)."""
        n = self.runs_worth(lr, wd)
        return n >= min(runs, 0.8 * float(n.max()))

    def mesh(self, points: int = MESH) -> tuple[np.ndarray, np.ndarray]:
        """A log-spaced mesh over the searched box: (lrs, wds), each of length ``points``."""
        return (
            np.logspace(math.log10(self.lr_range[0]), math.log10(self.lr_range[1]), points),
            np.logspace(math.log10(self.wd_range[0]), math.log10(self.wd_range[1]), points),
        )

    @property
    def full_runs(self) -> int:
        return sum(r.epochs is None for r in self.runs)


def _to_unit(x: np.ndarray, rng: tuple[float, float]) -> np.ndarray:
    lo, hi = math.log10(rng[0]), math.log10(rng[1])
    return (np.log10(x) - lo) / max(hi - lo, 1e-9)


def _length(epochs: np.ndarray, full: float | None) -> np.ndarray:
    if not full or full <= 1:
        return np.ones_like(epochs)
    return np.log(np.maximum(epochs, 1e-9)) / math.log(full)


def _replicates(runs: list[Run], raw: np.ndarray, near: float) -> tuple[float, int, int, int]:
    """Pooled within-setting variance of finished runs at identical settings: (var, df, runs,
    settings). Settings whose mean is within ``near`` of the best run only, where there are
    enough (runs far down scatter otherwise, and the answer is read near the top)."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for r, v in zip(runs, raw, strict=True):
        if r.value is not None and math.isfinite(r.value):
            groups[(round(math.log10(r.lr), 6), round(math.log10(r.wd), 6), r.epochs)].append(v)
    reps = [np.asarray(g) for g in groups.values() if len(g) >= 2]
    top = max(float(np.mean(g)) for g in groups.values())
    close = [g for g in reps if top - g.mean() <= near]
    reps = close if sum(len(g) - 1 for g in close) >= REPLICATE_DF else reps
    df = sum(len(g) - 1 for g in reps)
    if not df:
        return math.nan, 0, 0, 0
    ss = sum(float(((g - g.mean()) ** 2).sum()) for g in reps)
    return ss / df, df, sum(len(g) for g in reps), len(reps)


def _neg_log_likelihood(theta: np.ndarray, x: np.ndarray, y: np.ndarray, noise_var) -> float:
    d = x.shape[1]
    ls, signal = np.exp(theta[:d]), math.exp(theta[d])
    nv = noise_var if noise_var is not None else math.exp(theta[d + 1])
    k = signal * _matern52(x, x, ls) + (nv + 1e-8) * np.eye(len(x))
    try:
        c, low = cho_factor(k, lower=True)
    except np.linalg.LinAlgError:
        return 1e10
    alpha = cho_solve((c, low), y)
    prior = 0.5 * (((theta[:d] - LENGTH_PRIOR[0]) / LENGTH_PRIOR[1]) ** 2).sum()
    return float(0.5 * y @ alpha + np.log(np.diag(c)).sum() + prior)


def _hyper(x: np.ndarray, y: np.ndarray, fixed_noise: float | None, floor: float):
    """Length scales, signal and noise variance (standardized units) by maximum marginal
    likelihood from fixed starts."""
    d = x.shape[1]
    bounds = [tuple(np.log(LENGTH_BOUNDS))] * d + [(math.log(0.05), math.log(20.0))]
    if fixed_noise is None:
        bounds.append((math.log(max(floor, 1e-6)), math.log(max(1.0, 2 * floor))))
    best = None
    for ls0 in (0.2, 0.5, 1.0):
        theta0 = [math.log(ls0)] * d + [0.0]
        if fixed_noise is None:
            theta0.append(math.log(max(0.1, floor * 1.5)))
        start = np.clip(theta0, [b[0] for b in bounds], [b[1] for b in bounds])
        res = minimize(
            _neg_log_likelihood,
            start,
            args=(x, y, fixed_noise),
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 200},
        )
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    theta = best.x
    noise = fixed_noise if fixed_noise is not None else math.exp(theta[d + 1])
    return np.exp(theta[:d]), math.exp(theta[d]), noise


def fit(
    runs: Sequence[Run],
    *,
    metric: str,
    maximize: bool,
    lr_range: tuple[float, float] | None = None,
    wd_range: tuple[float, float] | None = None,
    full_epochs: float | None = None,
    chance: float | None = None,
    n_val: int | None = None,
) -> Surface:
    """The model of ``runs`` (at least 2 finished ones). Ranges default to the runs' own."""
    runs = [r for r in runs if r.lr > 0 and r.wd > 0]
    finished = [r.value for r in runs if r.value is not None and math.isfinite(r.value)]
    if len(finished) < 2:
        raise ValueError(
            f"a model of the runs needs at least 2 finished runs with max_lr > 0 and wd > 0, got {len(finished)}."
        )
    sign = 1.0 if maximize else -1.0
    worst = min(sign * v for v in finished)
    if chance is not None:
        worst = min(worst, sign * chance)
    raw = np.array(
        [sign * r.value if r.value is not None and math.isfinite(r.value) else worst for r in runs]
    )
    lr_range = lr_range or (min(r.lr for r in runs), max(r.lr for r in runs))
    wd_range = wd_range or (min(r.wd for r in runs), max(r.wd for r in runs))
    lr_range, wd_range = _widened(lr_range), _widened(wd_range)
    rungs = full_epochs is not None and any(r.epochs is not None for r in runs)
    lr_a = np.array([r.lr for r in runs])
    wd_a = np.array([r.wd for r in runs])
    cols = [_to_unit(lr_a, lr_range), _to_unit(wd_a, wd_range)]
    if rungs:
        cols.append(_length(np.array([r.epochs or full_epochs for r in runs], float), full_epochs))
    x = np.stack(cols, -1)
    floor = sampling_sd(finished, n_val) if is_accuracy(metric) else 0.0
    top = float(raw.max())
    warp = max(WARP_NOISE * floor, WARP_SHARE * abs(top), 1e-3)
    warped = _warped(raw, top, warp)
    mean, scale = float(np.mean(warped)), float(np.std(warped)) or 1.0
    y = (warped - mean) / scale
    var, df, rep_runs, cells = _replicates(runs, raw, warp)
    if df >= REPLICATE_DF:
        sd = max(math.sqrt(var), floor)
        source = "seed replicates" if math.sqrt(var) >= floor else "sampling error"
        ls, signal, nv = _hyper(x, y, (sd / scale) ** 2, 0.0)
        noise = Noise(sd, source, rep_runs, cells, floor)
    else:
        ls, signal, nv = _hyper(x, y, None, (max(floor, 1e-4 * scale) / scale) ** 2)
        sd = math.sqrt(nv) * scale
        source = "model fit" if sd > floor * 1.001 else "sampling error"
        noise = Noise(max(sd, floor), source, len(runs), 0, floor)
    k = signal * _matern52(x, x, ls) + (nv + 1e-8) * np.eye(len(x))
    chol = cho_factor(k, lower=True)
    return Surface(
        metric=metric,
        maximize=maximize,
        runs=list(runs),
        lr_range=lr_range,
        wd_range=wd_range,
        full_epochs=full_epochs if rungs else None,
        noise=noise,
        _x=x,
        _alpha=cho_solve(chol, y),
        _chol=chol,
        _ls=ls,
        _signal=signal,
        _noise_var=nv,
        _mean=mean,
        _top=top,
        _warp=warp,
        _scale=scale,
    )


def _warped(raw: np.ndarray, top: float, warp: float) -> np.ndarray:
    """Deficits below the top kept as they are while small against ``warp``, compressed
    logarithmically beyond: a run 40 points down says "bad here" without forcing the stationary
    kernel to ring (overshoot above the plateau) at the cliff."""
    return top - warp * np.log1p((top - raw) / warp)


def _unwarp(y: np.ndarray, top: float, warp: float) -> np.ndarray:
    return top - warp * np.expm1((top - y) / warp)


def _widened(rng: tuple[float, float]) -> tuple[float, float]:
    """A range of one value is widened to half a decade around it (a box needs a side)."""
    lo, hi = float(rng[0]), float(rng[1])
    if hi <= lo * 1.0001:
        return lo / 10**0.25, hi * 10**0.25
    return lo, hi
