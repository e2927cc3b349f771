"""The regularization-balance analysis: how the best weight decay moves with the peak lr.

Smith's claim: a larger learning rate regularizes, so the best weight decay falls as
``max_lr`` rises. For lr-scaled decay (SGD's coupled L2, AdamW's decoupled decay) a decay
timescale of ``1 / (lr x wd)`` steps that stays constant predicts a slope of -1 of
log10(wd) against log10(max_lr); no dependence predicts 0. From runs at many
``(max_lr, wd)`` points (an Optuna study or a Hydra grid; several seeds per cell welcome):

1. **Levels.** Runs are grouped into lr levels (a grid's own, or quantile bins). A level is
   *dead* when no run of it finished (all diverged or collapsed) or its best is near chance
   (less than ``DEAD_SHARE`` of the way from chance to the best level): it is left out of
   everything below and named.
2. **Plateau and ridge.** At each live level the objective is smoothed along wd (a Gaussian
   kernel over the level's runs and seeds). Its *plateau* is the wd range whose smoothed value
   is within the seed noise of the level's best (``Z_PLATEAU`` standard errors of the
   difference of two kernel averages; one run's noise from seed replicates, else second
   differences along wd, never below the validation set's sampling error). The
   *ridge* is the plateau's upper end, the largest wd still as good as the best: a stable
   feature where the argmax inside a flat plateau is noise.
3. **Slope.** The ridge's Theil-Sen slope (median of pairwise slopes: robust to one odd
   level) over live levels whose ridge is not cut off where the runs end.
4. **Uncertainty.** A stratified bootstrap (runs resampled with replacement within each
   level, everything redone): the point estimates are the bootstrap medians and the intervals
   the percentiles of the same replicates, so a point always lies inside its interval (the
   plug-in argmax of a resample-sensitive kernel maximum is biased; a median of the same
   replicates is not pulled outside them).
5. **Verdict.** Which named prediction (-1, 0) the slope's interval admits; "wd does not
   matter between a and b" when every level that trained as well as the best is within noise
   of its best across a decade or more and the ridge shows no trend (its interval admits 0:
   the flat range is then the finding, the slope follows it); edge warnings only where the
   *searched* range ends.

Runs that diverged or collapsed count as the worst value (or chance, if lower): they say that
point is bad, which a kernel average must not forget.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from analysis import surface as model
from analysis.recommend import practical_margin, recommend

__all__ = ["BalanceResult", "Level", "analyze_balance", "smoothed_surface"]

CONTINUOUS = 12  # more distinct values than this (or under 2 runs each): continuous, binned
GRID_POINTS = 121  # wd values the smoothed curve is evaluated at, over the searched range
DEAD_SHARE = 0.2  # a level whose best gets less than this share of chance -> best level is dead
# the plateau's margin in standard errors: one-sided 95% for ~12 wd values compared with the
# best at once (Bonferroni: 2.64); 1.645 (one comparison) lets seed noise cut plateaus short
Z_PLATEAU = 2.5
BEHIND_SHARE = 0.01  # a level within 1% of the best level's value is never "behind" it
FLAT_SHARE = 0.8  # a plateau over this share of the searched log-wd range: flat level
SEARCH_EDGE = 0.25  # decades: runs this close to the searched range's end reach it
MIN_LEVEL_RUNS = 4  # a level with fewer runs is left out: one run per level has no noise to read
NOISE_RUNS = 8  # finished runs a level needs for a noise estimate of its own
FLAT_DECADES = 1.0  # a common plateau this wide (decades) is reported as "wd does not matter"
FLAT_MIN_RUNS = 8  # ... when every live level has at least this many runs
BOOTSTRAP_METHOD = (
    "stratified bootstrap (runs resampled within each lr level); point = median of the "
    "replicates, interval = their percentiles"
)
PREDICTIONS = {"lr_x_wd": -1.0, "no_dependence": 0.0}


@dataclass
class Level:
    lr: float  # the level's max_lr (its value, or its bin's geometric centre)
    runs: int
    finished: int  # runs that neither diverged nor collapsed
    dead: str | None  # why the level is left out, or None
    best_wd: float | None = None  # where the smoothed objective peaks (descriptive)
    best_value: float | None = None  # the smoothed objective there
    plateau: tuple[float, float] | None = None  # wd range within the noise of the best
    ridge_wd: float | None = None  # the plateau's upper end (bootstrap median)
    ridge_wd_ci: tuple[float, float] | None = None  # its bootstrap percentile interval
    flat: bool = False  # the plateau spans (almost) the whole searched wd range
    edge: str | None = (
        None  # "low" | "high": the ridge is cut off by that end of the searched range
    )
    timescale_epochs: float | None = None  # 1 / (lr x ridge wd) steps, in epochs
    noise: float | None = None  # one run's seed noise at this level (the metric's units)
    best_n: float | None = None  # effective number of runs behind best_value (kernel weights)
    undertrained: bool = False  # live, but its best is below the best level's beyond the noise


@dataclass
class BalanceResult:
    metric: str
    maximize: bool
    runs: int
    levels: list[Level]
    slope: float | None  # d log10(ridge wd) / d log10(max_lr), bootstrap median
    slope_ci: tuple[float, float] | None
    prediction: str | None  # lr_x_wd | no_dependence | undecided | between | neither | flat | None
    verdict: str
    confidence: float
    bootstrap: int
    bootstrap_method: str = BOOTSTRAP_METHOD
    dead_levels: list[float] = field(default_factory=list)
    slope_levels: list[float] = field(default_factory=list)  # the lrs the slope is fitted on
    flat_range: tuple[float, float] | None = None  # wd where every live level is within noise
    noise: float = math.nan  # one run's seed noise, pooled (the metric's units)
    noise_source: str = ""  # how it was read (replicates, second differences, sampling error)
    best: dict = field(default_factory=dict)  # the best live cell: lr, wd, value, timescale
    warnings: list[str] = field(default_factory=list)
    lr_edge: str | None = None  # "above" | "below": the best lr level is an end of the searched
    recommendation: dict | None = None  # analysis.recommend: one (max_lr, wd) and its band
    wd_range: tuple[float, float] = (math.nan, math.nan)  # searched
    lr_range: tuple[float, float] = (math.nan, math.nan)  # searched
    bandwidth: dict[str, float] = field(default_factory=dict)  # kernel widths in decades
    binned: bool = False  # lr levels are quantile bins of a search's values, not a grid's
    bound_trend: str | None = None  # "falling" | "rising": too few ridges inside the range for a
    # slope, but with the levels whose ridge lies beyond the wd range's end (bounds) the best wd
    # moves one way as lr rises
    # with several runs a cell: how many one-seed replicates (the k-th run of every cell) show
    # the slope's trend (its interval on the same side of 0), of how many; a trend none of
    # them shows is not a headline (the mean of seeds resolves more than any one study of them)
    trend_repeated: tuple[int, int] | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _bandwidth(logs: np.ndarray, share: float = 0.6) -> float:
    """Kernel width in decades: ``share`` x the spacing of a grid's values, or range/8 for a
    continuous axis. The analysis takes 0.4 along a grid's wd (a neighbouring cell weighs
    e^-3 = 5%: a cell is nearly its own mean, its seeds do the averaging, and a cliff is not
    blurred into the plateau before it); the heatmap 0.6."""
    distinct = np.unique(np.round(logs, 6))
    if len(distinct) < 2:
        return 1.0
    if len(distinct) > CONTINUOUS:
        return float(max((distinct[-1] - distinct[0]) / 8, 1e-3))
    return float(share * np.median(np.diff(distinct)))


def _levels(log_lr: np.ndarray, n_bins: int = 6) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(centres, index of each run's level)``: a grid's own levels (few values, each run at
    least twice on average), or quantile bins of a continuous axis (a search's lr values, all
    distinct), as many as give each bin ``MIN_LEVEL_RUNS`` runs, at most ``n_bins``."""
    distinct = np.unique(np.round(log_lr, 6))
    if len(distinct) <= CONTINUOUS and len(log_lr) >= 2 * len(distinct):
        idx = np.searchsorted(distinct, np.round(log_lr, 6))
        return distinct, idx, False
    n_bins = max(1, min(n_bins, len(log_lr) // MIN_LEVEL_RUNS))
    edges = np.quantile(log_lr, np.linspace(0, 1, n_bins + 1))
    idx = np.clip(np.searchsorted(edges, log_lr, side="right") - 1, 0, n_bins - 1)
    centres = np.array([log_lr[idx == b].mean() for b in range(n_bins)])
    return centres, idx, True


@dataclass
class _Curve:
    """One level's objective smoothed along wd on the analysis grid."""

    value: np.ndarray  # smoothed value per grid point
    n_eff: np.ndarray  # effective number of runs behind each point

    def best(self) -> int:
        return int(np.argmax(self.value))

    def plateau(self, noise: float, practical: float) -> tuple[int, int]:
        """Grid indices of the lowest and highest wd as good as the best: within its noise or
        the practical margin, whichever is larger."""
        b = self.best()
        margin = np.maximum(
            Z_PLATEAU * noise * np.sqrt(1 / self.n_eff[b] + 1 / self.n_eff), practical
        )
        inside = np.flatnonzero(self.value >= self.value[b] - margin)
        return int(inside[0]), int(inside[-1])


def _kernel(grid: np.ndarray, log_wd: np.ndarray, h: float) -> np.ndarray:
    return np.exp(-0.5 * ((grid[:, None] - log_wd[None, :]) / h) ** 2)


def _curve(log_wd: np.ndarray, value: np.ndarray, grid: np.ndarray, h: float) -> _Curve:
    w = _kernel(grid, log_wd, h)
    total = np.maximum(w.sum(1), 1e-12)
    return _Curve(value=(w @ value) / total, n_eff=total**2 / np.maximum((w * w).sum(1), 1e-24))


def _pseudo_residuals(log_wd: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, str]:
    """Residuals whose spread is one run's seed noise, and how they were read: deviations from
    their cell's mean where runs repeat a setting (seed replicates), otherwise second
    differences along wd (Gasser-Sroka-Jennen-Steinmetz pseudo-residuals: each run against the
    line through its two neighbours, which cancels the curve's local slope; a cliff spoils only
    the few next to it, and the MAD ignores those). A leave-one-out residual of a wide kernel
    would read the curve's own bend as noise."""
    cells: dict[float, list[float]] = {}
    for x, v in zip(np.round(log_wd, 9), value, strict=True):
        cells.setdefault(float(x), []).append(float(v))
    reps = [np.asarray(c) for c in cells.values() if len(c) >= 2]
    if sum(len(c) - 1 for c in reps) >= 3:
        return np.concatenate(
            [(c - c.mean()) * math.sqrt(len(c) / (len(c) - 1)) for c in reps]
        ), "replicates"
    order = np.argsort(log_wd)
    x, y = log_wd[order], value[order]
    if len(x) < 3:
        return np.array([]), "none"
    span = np.maximum(x[2:] - x[:-2], 1e-12)
    a, b = (x[2:] - x[1:-1]) / span, (x[1:-1] - x[:-2]) / span
    return (a * y[:-2] + b * y[2:] - y[1:-1]) / np.sqrt(a * a + b * b + 1), "differences"


def _range(given: tuple[float, float] | None, values: np.ndarray) -> tuple[float, float]:
    if given is not None:
        lo, hi = float(given[0]), float(given[1])
        if not (0 < lo <= hi):
            raise ValueError(f"a searched range must be 0 < low <= high, got {given}.")
        return math.log10(lo), math.log10(hi)
    return float(values.min()), float(values.max())


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
    log_lr, log_wd, signed, _ = _prepared(lr, wd, value, maximize)
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
    lr: Sequence[float],
    wd: Sequence[float],
    value: Sequence[float | None],
    maximize: bool,
    chance: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """log10 lr, log10 wd, the objective signed so that larger is better (runs without a value,
    diverged or collapsed, count as the worst value seen or chance, whichever is worse) and
    which runs finished."""
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
    worst = float(np.min(signed[finite]))
    if chance is not None:
        worst = min(worst, chance if maximize else -chance)
    return np.log10(lr_a), np.log10(wd_a), np.where(finite, signed, worst), finite


@dataclass
class _Data:
    """The runs, prepared once: signed values (larger is better), levels, the analysis grid."""

    log_lr: np.ndarray
    log_wd: np.ndarray
    signed: np.ndarray
    finished: np.ndarray
    centres: np.ndarray
    level_of: np.ndarray
    grid: np.ndarray  # log10 wd over the searched range
    h_wd: float
    practical: float = (
        0.0  # "as good": never a smaller margin than this (analysis.recommend.MARGIN)
    )

    def curve(self, i: int, pick: np.ndarray | None = None) -> _Curve:
        runs = np.flatnonzero(self.level_of == i) if pick is None else pick
        return _curve(self.log_wd[runs], self.signed[runs], self.grid, self.h_wd)


def _dead_reasons(d: _Data, chance_signed: float | None) -> list[str | None]:
    """Per level: why it is left out (too few runs, no finished run, its best near chance), or None."""
    best = [d.curve(i).value.max() for i in range(len(d.centres))]
    floor = chance_signed if chance_signed is not None else float(d.signed.min())
    reasons: list[str | None] = []
    for i, top in enumerate(best):
        runs = int((d.level_of == i).sum())
        if runs < MIN_LEVEL_RUNS:
            reasons.append(f"{runs} run(s), fewer than {MIN_LEVEL_RUNS}: nothing to read")
        elif not d.finished[d.level_of == i].any():
            reasons.append("every run diverged or collapsed")
        elif top < floor + DEAD_SHARE * (max(best) - floor):
            reasons.append(
                "its best is near chance"
                if chance_signed is not None
                else "its best is near the worst"
            )
        else:
            reasons.append(None)
    return reasons


def _behind(d: _Data, live: list[int], noise: np.ndarray) -> list[bool]:
    """Per live level: its smoothed best is below the best level's by more than ``Z_PLATEAU``
    standard errors of the two (a kernel average's error: one run's noise over the root of its
    effective runs) and by more than ``BEHIND_SHARE`` of the best. Such a level did not train as well (too small an lr to finish learning, or
    one near divergence): where its plateau ends says how it underfits, not how the
    regularization balances, so it does not enter the slope."""
    if not live:
        return []
    tops = []
    for k, i in enumerate(live):
        c = d.curve(i)
        b = c.best()
        tops.append((float(c.value[b]), float(noise[k]) / math.sqrt(max(float(c.n_eff[b]), 1.0))))
    best, best_se = max(tops)
    floor = BEHIND_SHARE * abs(best)  # noise-free runs: a hair below the best is not behind
    return [best - v > max(Z_PLATEAU * math.hypot(se, best_se), floor) for v, se in tops]


def _mad(r: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(r - np.median(r))))


def _noise(d: _Data, live: list[int], accuracy: bool) -> tuple[np.ndarray, float, str]:
    """One run's seed noise per live level, pooled, and where it came from: the robust spread
    (1.4826 x MAD) of each level's pseudo-residuals (:func:`_pseudo_residuals`: seed replicates
    where a level has them, else second differences along wd), never below the metric's
    sampling error (binomial on the validation set, :func:`analysis.surface.sampling_sd`) or
    its smallest step. A level with fewer than ``NOISE_RUNS`` residuals takes the pooled value
    (noise differs between levels: runs near divergence scatter more)."""
    res, how = [], []
    for i in live:
        runs = np.flatnonzero((d.level_of == i) & d.finished)
        r, h = _pseudo_residuals(d.log_wd[runs], d.signed[runs])
        res.append(r)
        how.append((h, len(runs)))
    every = np.concatenate(res) if res else np.array([])
    finished = d.signed[d.finished]
    binomial = model.sampling_sd(list(np.abs(finished))) if accuracy else 0.0
    floor = max(_resolution(finished), binomial)
    pooled = max(_mad(every), floor) if len(every) else floor
    noise = np.array([max(_mad(r), floor) if len(r) >= NOISE_RUNS else pooled for r in res])
    total = sum(n for _, n in how)
    kinds = {h for h, _ in how if h != "none"}
    if len(every) and _mad(every) < floor:
        source = f"the validation set's sampling error {floor:.4f} (the {total} runs scatter less)"
    elif kinds == {"replicates"}:
        source = f"seed replicates ({total} runs)"
    elif kinds:
        source = f"second differences along wd ({total} runs{'' if 'replicates' not in kinds else ', replicates where a level has them'})"
    else:
        source = "the metric's resolution (too few runs a level)"
    return noise, pooled, source


def _resolution(values: np.ndarray) -> float:
    """The metric's smallest step between two runs (an accuracy on 144 examples moves by 1/144):
    one run's noise is never read as smaller. Most runs of a level on the same value give a
    MAD of 0, and then one example more would count as beyond the noise."""
    gaps = np.diff(np.unique(values[np.isfinite(values)]))
    gaps = gaps[gaps > 1e-12]
    return float(gaps.min()) if len(gaps) else 0.0


def _ridges(d: _Data, live: list[int], noise: np.ndarray) -> np.ndarray:
    """Per live level: the grid index of its plateau's upper end."""
    return np.array([d.curve(i).plateau(noise[k], d.practical)[1] for k, i in enumerate(live)])


def _bootstrap(
    d: _Data, live: list[int], noise: np.ndarray, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Replicates of every live level's ridge (log10 wd) and the index of the best live level.

    A replicate resamples each level's runs with replacement; its curve is the kernel average
    with each run weighted by how often it was drawn, so all replicates of a level are a few
    matrix products (the draws are made in the same order as one replicate at a time)."""
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(d.level_of == i) for i in live]
    counts = [np.empty((n, len(m))) for m in members]
    for b in range(n):
        for k, m in enumerate(members):
            counts[k][b] = np.bincount(rng.integers(0, len(m), len(m)), minlength=len(m))
    ridges = np.empty((n, len(live)))
    best = np.empty((n, len(live)))
    for k, m in enumerate(members):
        w = _kernel(d.grid, d.log_wd[m], d.h_wd)  # (grid, runs)
        total = np.maximum(counts[k] @ w.T, 1e-12)  # (replicates, grid), as _curve's sums
        value = ((counts[k] * d.signed[m]) @ w.T) / total
        n_eff = total**2 / np.maximum(counts[k] @ (w * w).T, 1e-24)
        ridges[:, k] = d.grid[_plateau_tops(value, n_eff, noise[k], d.practical)]
        best[:, k] = value.max(axis=1)
    top = np.argmax(best, axis=1) if live else np.full(n, -1)
    return ridges, top


def _plateau_tops(
    value: np.ndarray, n_eff: np.ndarray, noise: float, practical: float
) -> np.ndarray:
    """:meth:`_Curve.plateau`'s upper end for every row of ``value`` at once."""
    rows = np.arange(len(value))
    b = np.argmax(value, axis=1)
    margin = np.maximum(
        Z_PLATEAU * noise * np.sqrt(1 / n_eff[rows, b][:, None] + 1 / n_eff), practical
    )
    inside = value >= value[rows, b][:, None] - margin
    return value.shape[1] - 1 - np.argmax(inside[:, ::-1], axis=1)


def _slopes(x: np.ndarray, ridges: np.ndarray) -> np.ndarray:
    """Each replicate's Theil-Sen slope of the ridge on log10 lr (the median of the slopes
    between every pair of levels): one level whose ridge is off (a level near divergence
    that still trains a little) moves a median of pairs far less than a least-squares line."""
    i, j = np.triu_indices(len(x), 1)
    return np.median((ridges[:, j] - ridges[:, i]) / (x[j] - x[i]), axis=1)


def _prediction(ci: tuple[float, float]) -> str:
    admits = [name for name, v in PREDICTIONS.items() if ci[0] <= v <= ci[1]]
    if len(admits) == 1:
        return admits[0]
    if admits:
        return "undecided"
    return "between" if -1 < ci[0] and ci[1] < 0 else "neither"


# what the slope's interval admits: a statement after the headline (the ridge's direction and
# slope), never instead of it - "between -1 and 0" is a result, not a flip between two labels
PREDICTION_WORDS = {
    "lr_x_wd": "the interval admits a constant lr x wd (slope -1: the decay timescale "
    "1/(lr x wd) stays put as lr moves), not no dependence (0)",
    "no_dependence": "the interval admits no dependence of the best wd on lr (slope 0), "
    "not a constant lr x wd (-1)",
    "undecided": "the interval admits both a constant lr x wd (-1) and no dependence (0): "
    "more levels or seeds are needed to tell them apart",
    "between": "between -1 and 0: the best wd falls as lr rises, less than in proportion "
    "(the interval excludes both a constant lr x wd and no dependence)",
    "neither": "the interval excludes both a constant lr x wd (-1) and no dependence (0)",
}


def _verdict(r: BalanceResult, n_levels: int, min_levels: int) -> str:
    words = _verdict_words(r, n_levels, min_levels)
    if r.binned:  # say how the levels were made: a reader of a search's report may expect a grid
        words += (
            f" (max_lr of a search binned into {n_levels} quantile ranges; "
            "a grid or sweep=balance reads exact levels)"
        )
    return words


def _verdict_words(r: BalanceResult, n_levels: int, min_levels: int) -> str:
    pct = f"{r.confidence:.0%}"
    why = {round(lv.lr, 12): lv.dead for lv in r.levels if lv.dead}
    dead = (
        "; lr levels left out: "
        + ", ".join(f"{x:.3g} ({why.get(round(x, 12))})" for x in r.dead_levels)
        if r.dead_levels
        else ""
    )
    flat = (
        f"wd does not matter between {r.flat_range[0]:.2g} and {r.flat_range[1]:.2g} here "
        "(every live lr level is within the seed noise of its best there)"
        if r.flat_range
        else ""
    )
    behind = [lv.lr for lv in r.levels if lv.undertrained]
    undertrained = (
        f"left out of the slope: lr level(s) {', '.join(f'{x:.3g}' for x in behind)}, not "
        "trained as well as the best level (their plateau's end is underfitting, not balance)"
        if behind
        else ""
    )
    # one headline for the flat-then-limit picture: where wd does not matter first, then what
    # the limit above it does with lr; a grid and its one-seed replicates then say one story
    # at two resolutions ("no trend shown" above the flat range refines, never contradicts)
    if r.prediction == "flat":
        trend = (
            f"; above it, no trend shown: slope {r.slope:+.2f} "
            f"[{r.slope_ci[0]:+.2f}, {r.slope_ci[1]:+.2f}] of the largest as-good wd over "
            f"{len(r.slope_levels)} lr levels ({PREDICTION_WORDS[_prediction(r.slope_ci)]})"
            if r.slope is not None and r.slope_ci is not None
            else ""
        )
        return f"{flat} ({r.runs} runs){trend}{dead}"
    if r.bound_trend is not None:
        above = f"above it, {_bound_words(r)}" if flat else _bound_words(r)
        return "; ".join(x for x in (flat, above, undertrained) if x) + dead
    if r.slope is None or r.slope_ci is None:
        short = f"{len(r.slope_levels)} lr level(s) with a ridge inside the searched wd range, at least {min_levels} are needed for a slope"
        head = f"not enough evidence: {short} ({n_levels} levels, {r.runs} runs)"
        return "; ".join(x for x in (head, undertrained, flat) if x) + dead
    lo, hi = r.slope_ci
    what = f"slope {r.slope:+.2f} [{lo:+.2f}, {hi:+.2f}] ({pct} bootstrap interval) over {len(r.slope_levels)} lr levels, {r.runs} runs"
    if r.trend_repeated is not None and r.trend_repeated[0]:
        what += f", shown by {r.trend_repeated[0]} of its {r.trend_repeated[1]} one-seed replicates"
    direction = (
        "larger lr wants smaller wd"
        if hi < 0
        else "larger lr wants larger wd"
        if lo > 0
        else "no trend shown"
    )
    if r.trend_repeated is not None and r.trend_repeated[0] == 0:
        n = r.trend_repeated[1]
        direction = (
            f"no trend that one seed shows (the mean of {n} seeds a cell reads "
            f"{'smaller' if hi < 0 else 'larger'} wd at larger lr; none of its {n} one-seed "
            "replicates repeats it)"
        )
    weak = [
        lv.lr
        for lv in r.levels
        if lv.flat and any(math.isclose(lv.lr, x, rel_tol=1e-9) for x in r.slope_levels)
    ]
    caveat = (
        f"caveat: the slope uses lr level(s) {', '.join(f'{x:.3g}' for x in weak)} where wd is "
        "within the noise over most of the searched range (their ridge is weak evidence)"
        if weak
        else ""
    )
    head = f"{flat}; above it, {direction}: {what}" if flat else f"{direction}: {what}"
    parts = (head, PREDICTION_WORDS[r.prediction or "undecided"], caveat, undertrained)
    return "; ".join(x for x in parts if x) + dead


def _bound_words(r: BalanceResult) -> str:
    """The direction the runs show when some ridges lie beyond the wd range: a bound, with the
    end(s) to widen to measure the slope."""
    cut, widen = [], []
    for side, past, end in (("high", "above", r.wd_range[1]), ("low", "below", r.wd_range[0])):
        lrs = [f"{lv.lr:.3g}" for lv in r.levels if lv.edge == side and not lv.undertrained]
        if lrs:
            cut.append(f"{', '.join(lrs)} ({past} {end:.2g})")
            widen.append(f"{past} {end:.2g}")
    word = "smaller" if r.bound_trend == "falling" else "larger"
    return (
        f"larger lr wants {word} wd (a bound: the best wd of lr level(s) {'; '.join(cut)} lies "
        f"beyond the searched range; {len(r.slope_levels)} ridge(s) inside it are too few for "
        f"a slope): extend wd {' and '.join(widen)} to measure how much"
    )


def _levels_out(
    d: _Data,
    dead: list[str | None],
    live: list[int],
    ridge_med: np.ndarray,
    ridge_ci: np.ndarray,
    noise: np.ndarray,
    steps_per_epoch: float | None,
    maximize: bool,
) -> list[Level]:
    out = []
    span = d.grid[-1] - d.grid[0]
    edge_tol = 2 * (d.grid[1] - d.grid[0]) if len(d.grid) > 1 else 0.0
    for i, c in enumerate(d.centres):
        members = d.level_of == i
        lv = Level(
            lr=float(10**c),
            runs=int(members.sum()),
            finished=int(d.finished[members].sum()),
            dead=dead[i],
        )
        if i in live:
            k = live.index(i)
            curve = d.curve(i)
            lo, hi = curve.plateau(noise[k], d.practical)
            lv.noise = float(noise[k])
            b = curve.best()
            lv.best_wd = float(10 ** d.grid[b])
            lv.best_value = float(curve.value[b] if maximize else -curve.value[b])
            lv.best_n = float(curve.n_eff[b])
            lv.plateau = (float(10 ** d.grid[lo]), float(10 ** d.grid[hi]))
            lv.ridge_wd = float(10 ** ridge_med[k])
            lv.ridge_wd_ci = (float(10 ** ridge_ci[0, k]), float(10 ** ridge_ci[1, k]))
            lv.flat = bool(d.grid[hi] - d.grid[lo] >= FLAT_SHARE * span)
            if not lv.flat:
                lv.edge = (
                    "high"
                    if d.grid[hi] >= d.grid[-1] - edge_tol
                    else "low"
                    if d.grid[hi] <= d.grid[0] + edge_tol
                    else None
                )
            if steps_per_epoch:
                lv.timescale_epochs = float(1 / (lv.lr * lv.ridge_wd) / steps_per_epoch)
        out.append(lv)
    return out


def _edge_warnings(
    levels: list[Level], runs: np.ndarray, searched: tuple[float, float]
) -> list[str]:
    """A ridge cut off where the runs end warns only where that is also the searched range's
    end (``runs``, ``searched``: log10 wd extremes); a search that stopped short says nothing
    about what lies beyond its own runs' reach, and is no reason to widen the range."""
    warnings = []
    for side, word, k in (("high", "above", 1), ("low", "below", 0)):
        at_edge = [lv for lv in levels if lv.edge == side]
        if at_edge and abs(runs[k] - searched[k]) <= SEARCH_EDGE:
            lrs = ", ".join(f"{lv.lr:.3g}" for lv in at_edge)
            warnings.append(
                f"the wd that is still as good as the best reaches the {'upper' if side == 'high' else 'lower'} end of the searched range ({10 ** searched[k]:.3g}) at max_lr {lrs}: extend wd {word} it"
            )
    return warnings


def analyze_balance(
    lr: Sequence[float],
    wd: Sequence[float],
    value: Sequence[float | None],
    *,
    metric: str,
    maximize: bool,
    chance: float | None = None,
    wd_range: tuple[float, float] | None = None,
    lr_range: tuple[float, float] | None = None,
    steps_per_epoch: float | None = None,
    bootstrap: int = 300,
    confidence: float = 0.9,
    seed: int = 0,
    min_levels: int = 3,
    replicates: bool = True,
) -> BalanceResult:
    """Plateau and ridge per lr level, the ridge's slope with its interval, a verdict.

    Args:
        lr, wd: each run's peak lr and weight decay (> 0).
        value: each run's objective; None or NaN for a run that diverged or collapsed.
        metric, maximize: the objective's name and direction.
        chance: the objective at chance (1 / classes for accuracy), for dead levels.
        wd_range, lr_range: the *searched* ranges (a study's distributions, a grid's values);
            default: the runs' own, finished or not. Edge warnings refer to these.
        steps_per_epoch: optimizer steps per epoch, to state decay timescales in epochs.
        bootstrap, confidence: replicates and coverage of the intervals.
        min_levels: fewer live levels with a ridge inside the range than this give no slope.
        replicates: with several runs a cell, check a trend against the one-seed replicates
            (``trend_repeated``); False inside that check, and where only the slope is wanted.
    """
    log_lr, log_wd, signed, finished = _prepared(lr, wd, value, maximize, chance)
    wd_lo, wd_hi = _range(wd_range, log_wd)
    lr_lo, lr_hi = _range(lr_range, log_lr)
    centres, level_of, binned = _levels(log_lr)
    d = _Data(
        log_lr,
        log_wd,
        signed,
        finished,
        centres,
        level_of,
        np.linspace(log_wd.min(), log_wd.max(), GRID_POINTS),  # where runs are: no extrapolation
        _bandwidth(log_wd, share=0.4),
        practical_margin(metric, signed[finished]),
    )
    chance_signed = None if chance is None else (chance if maximize else -chance)
    dead = _dead_reasons(d, chance_signed)
    live = [i for i, why in enumerate(dead) if why is None]
    noise, pooled, noise_source = _noise(d, live, model.is_accuracy(metric))
    plug = _ridges(d, live, noise)
    edge_tol = 2 * (d.grid[1] - d.grid[0])
    behind = _behind(d, live, noise)
    fit = [  # a ridge inside the wd range, of a level that trained as well as the best one
        k
        for k, g in enumerate(plug)
        if d.grid[0] + edge_tol < d.grid[g] < d.grid[-1] - edge_tol and not behind[k]
    ]
    ridges, top = _bootstrap(d, live, noise, bootstrap, seed)
    tail = (1 - confidence) / 2 * 100
    levels = _levels_out(
        d,
        dead,
        live,
        np.median(ridges, 0),
        np.percentile(ridges, [tail, 100 - tail], axis=0),
        noise,
        steps_per_epoch,
        maximize,
    )
    for k, i in enumerate(live):
        levels[i].undertrained = behind[k]
    live_levels = [levels[i] for i in live]
    result = BalanceResult(
        metric=metric,
        maximize=maximize,
        runs=len(signed),
        levels=levels,
        slope=None,
        slope_ci=None,
        prediction=None,
        verdict="",
        confidence=confidence,
        bootstrap=bootstrap,
        dead_levels=[lv.lr for lv in levels if lv.dead],
        noise=pooled,
        noise_source=noise_source,
        slope_levels=[live_levels[k].lr for k in fit],
        wd_range=(float(10**wd_lo), float(10**wd_hi)),
        lr_range=(float(10**lr_lo), float(10**lr_hi)),
        bandwidth={"log10_wd": d.h_wd},
        binned=binned,
    )
    if live_levels:
        # the levels that trained as well as the best (every live one when fewer than two did:
        # a design still climbing in lr): where a level that underfits (too small an lr, or one
        # near divergence) can take wd is a fact about underfitting, not balance
        trained = [lv for k, lv in enumerate(live_levels) if not behind[k]]
        trained = trained if len(trained) >= 2 else live_levels
        flat_lo = max(lv.plateau[0] for lv in trained if lv.plateau)
        # the plateaus' tops by their bootstrap medians (the ridges): one level's plug-in plateau
        # cut short by a seed's dip would end the flat range for every level
        flat_hi = min(lv.ridge_wd or lv.plateau[1] for lv in trained if lv.plateau)
        # a common plateau of one level is that level's own (the table shows it), not a finding;
        # a bin of a few search runs mixes lr with wd: its noise is too wide to call wd flat
        enough = len(trained) >= 2 and all(lv.runs >= FLAT_MIN_RUNS for lv in trained)
        if enough and math.log10(flat_hi) - math.log10(flat_lo) >= FLAT_DECADES:
            result.flat_range = (flat_lo, flat_hi)
        best = max(live_levels, key=lambda lv: float(lv.best_value or 0) * (1 if maximize else -1))
        result.best = {
            "lr": best.lr,
            "wd": best.best_wd,
            "value": best.best_value,
            "ridge_wd": best.ridge_wd,
            "timescale_epochs": best.timescale_epochs,
        }
    if (
        result.flat_range
        and len(live_levels) >= min_levels
        and (len(fit) < min_levels or all(lv.flat for lv in live_levels))
    ):
        result.prediction = "flat"
    elif len(fit) >= min_levels:
        x = centres[[live[k] for k in fit]]
        slopes = _slopes(x, ridges[:, fit])
        ci = tuple(float(v) for v in np.percentile(slopes, [tail, 100 - tail]))
        result.slope, result.slope_ci = float(np.median(slopes)), (ci[0], ci[1])
        result.prediction = _prediction(result.slope_ci)
        if result.flat_range and ci[0] <= 0 <= ci[1] and len(live_levels) >= min_levels:
            # the ridge shows no trend and every level is as good over a decade or more: that
            # range is the finding ("no trend shown" alone hid it behind a noisy slope)
            result.prediction = "flat"
    elif len(live_levels) >= min_levels:
        # a level below the best whose best wd is the range's end is not underfit: its best lies
        # beyond that end (it rises towards it), which is a bound on its ridge
        ends = (10 ** d.grid[0], 10 ** d.grid[-1])
        past_end = [any(math.isclose(levels[i].best_wd or 0, e) for e in ends) for i in live]
        usable = [
            i
            for k, i in enumerate(live)
            if not levels[i].flat and (not behind[k] or (past_end[k] and levels[i].edge))
        ]
        inside = {live[k] for k in fit} & set(usable)
        result.bound_trend = _bound_trend([levels[i] for i in usable], inside, usable)
        for i in usable if result.bound_trend else ():
            levels[i].undertrained = False  # read as a bound, not left out
    result.warnings = _edge_warnings(levels, d.grid[[0, -1]], (wd_lo, wd_hi))
    if not binned:  # a search's top bin ends at its largest run, not beyond what it searched
        result.lr_edge = _lr_edge(levels, live, top, confidence)
        if result.lr_edge is not None:
            i, end = (len(levels) - 1, "highest") if result.lr_edge == "above" else (0, "lowest")
            result.warnings.append(
                f"the best lr level is the {end} searched ({levels[i].lr:.3g}): extend max_lr {result.lr_edge} it"
            )
    if replicates:  # a replicate that only checks a trend needs neither
        result.trend_repeated = _trend_repeated(
            result, lr, wd, value, metric, maximize, chance, wd_range, lr_range, seed, min_levels
        )
        result.recommendation = _recommendation(result, lr, wd, value, chance, steps_per_epoch)
    result.verdict = _verdict(result, len(levels), min_levels)
    return result


def _recommendation(
    r: BalanceResult,
    lr: Sequence[float],
    wd: Sequence[float],
    value: Sequence[float | None],
    chance: float | None,
    steps_per_epoch: float | None,
) -> dict:
    """The answer, from the study's model of its runs (``analysis.surface``, shared with the
    search)."""
    surface = model.fit(
        [
            model.Run(a, b, None if v is None else float(v))
            for a, b, v in zip(lr, wd, value, strict=True)
        ],
        metric=r.metric,
        maximize=r.maximize,
        lr_range=r.lr_range,
        wd_range=r.wd_range,
        chance=chance,
    )
    return recommend(surface, steps_per_epoch=steps_per_epoch).as_dict()


def _trend_repeated(
    result: BalanceResult,
    lr: Sequence[float],
    wd: Sequence[float],
    value: Sequence[float | None],
    metric: str,
    maximize: bool,
    chance: float | None,
    wd_range: tuple[float, float] | None,
    lr_range: tuple[float, float] | None,
    seed: int,
    min_levels: int,
) -> tuple[int, int] | None:
    """How many one-seed replicates (the k-th run of every cell) show the slope's trend (an
    interval on the same side of 0), of how many; None without a trend, or unless every cell
    has at least two runs."""
    ci = result.slope_ci
    if ci is None or ci[0] <= 0 <= ci[1]:
        return None
    falling = ci[1] < 0
    cells: dict[tuple[float, float], list[int]] = {}
    for i, key in enumerate(zip(lr, wd, strict=True)):
        cells.setdefault(key, []).append(i)
    k = min(len(v) for v in cells.values())
    if k < 2:
        return None
    shown = 0
    for j in range(k):
        idx = [v[j] for v in cells.values()]
        r = analyze_balance(
            [lr[i] for i in idx],
            [wd[i] for i in idx],
            [value[i] for i in idx],
            metric=metric,
            maximize=maximize,
            chance=chance,
            wd_range=wd_range,
            lr_range=lr_range,
            bootstrap=100,
            confidence=result.confidence,
            seed=seed + j,
            min_levels=min_levels,
            replicates=False,
        )
        rc = r.slope_ci
        shown += rc is not None and (rc[1] < 0 if falling else rc[0] > 0)
    return shown, k


def _bound_trend(levels: list[Level], inside: set[int], index: list[int]) -> str | None:
    """Which way the best wd moves as lr rises, read with the levels whose ridge is cut off by
    an end of the searched wd range as bounds (beyond that end): "falling" or "rising" when
    every level, in lr order, lies at or past the one before it, at least one is such a bound
    and the ends differ; None otherwise (then no claim is made)."""
    where: list[float] = []
    for lv, i in zip(levels, index, strict=True):
        if lv.edge == "high":
            where.append(math.inf)
        elif lv.edge == "low":
            where.append(-math.inf)
        elif i in inside and lv.ridge_wd is not None:
            where.append(math.log10(lv.ridge_wd))
        else:
            return None  # a level with no ridge to place breaks the order
    if len(where) < 2 or not any(math.isinf(w) for w in where) or where[0] == where[-1]:
        return None
    pairs = list(itertools.pairwise(where))
    if all(a >= b for a, b in pairs):
        return "falling"
    if all(a <= b for a, b in pairs):
        return "rising"
    return None


def _lr_edge(
    levels: list[Level], live: list[int], top: np.ndarray, confidence: float
) -> str | None:
    """The best live level is the lowest or highest *searched* level in ``confidence`` of the
    replicates: the best lr may lie beyond the searched range."""
    if len(levels) < 2 or not live:
        return None
    counts = np.bincount(top, minlength=len(live))
    k = int(np.argmax(counts))
    i = live[k]
    if counts[k] / len(top) < confidence or i not in (0, len(levels) - 1):
        return None
    return "above" if i == len(levels) - 1 else "below"
