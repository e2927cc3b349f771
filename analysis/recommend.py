"""One recommendation from a balance analysis: a (max_lr, wd) to use and the band of settings
that are as good within the seed noise, read from the smoothed surface, not from the best
single run (the maximum of many noisy runs, which moves from rerun to rerun).

- **As-good lr levels**: live levels whose smoothed best is within ``Z_PLATEAU`` standard errors
  of the best level's (each best is a kernel average of its runs: its error is one run's noise
  over the square root of the effective number of runs behind it).
- **The lr**: the as-good level nearest the middle (in log lr) of the as-good ones: a rerun
  that swaps which level wins by a hair lands on the same middle.
- **The wd**: the geometric middle of that level's plateau (the wd range within the noise of
  its best), and the plateau itself as the band, also stated as lr x wd and as the decay
  timescale 1/(lr x wd) in epochs. A plateau that spans the searched range is "wd does not
  matter here"; one cut off by the range's end is a bound, said as such.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analysis.balance import BalanceResult, Level

Z_PLATEAU = 2.5  # as analysis.balance: the same margin for levels as for wd values
MIN_RUNS = 10  # full-length runs a band needs: a kernel surface of fewer is an extrapolation


def too_few_runs(complete: int, lr: str, wd: str) -> str:
    """Why there is no recommendation, in the words the console and the report share."""
    return (
        f"{complete} full-length runs with {lr} and {wd}, a band needs at least {MIN_RUNS} "
        "(a search with rungs trains few in full: sweep=balance measures the band)"
    )


@dataclass(frozen=True)
class Recommendation:
    max_lr: float
    wd: float
    value: float  # the smoothed objective at the recommended level's best
    noise: float  # one run's seed noise there (the metric's units)
    wd_band: tuple[float, float]  # as good within the noise at max_lr
    lr_band: tuple[float, float]  # the as-good lr levels' span
    lr_levels: int  # as-good levels
    live_levels: int
    product_band: tuple[float, float]  # lr x wd over wd_band at max_lr
    timescale_epochs: tuple[float, float] | None  # 1 / (lr x wd) in epochs over wd_band
    wd_flat: bool  # the band spans the searched wd range: wd does not matter at this lr
    wd_edge: str | None  # "high" | "low": the band reaches that end of the searched range
    runs: int  # all runs analysed
    level_runs: int  # runs at the recommended lr level
    metric: str
    sentence: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def recommend(r: BalanceResult, steps_per_epoch: float | None = None) -> Recommendation | None:
    """The recommendation of a balance analysis; None when no lr level is live."""
    live = [lv for lv in r.levels if not lv.dead and lv.plateau and lv.best_value is not None]
    if not live:
        return None
    sign = 1.0 if r.maximize else -1.0
    top = max(live, key=lambda lv: sign * float(lv.best_value or 0))
    good = [lv for lv in live if _as_good(lv, top, sign, r.noise)]
    logs = [math.log10(lv.lr) for lv in good]
    middle = (min(logs) + max(logs)) / 2
    pick = min(
        good, key=lambda lv: (abs(math.log10(lv.lr) - middle), -sign * float(lv.best_value or 0))
    )
    assert pick.plateau is not None and pick.best_value is not None
    lo, hi = pick.plateau
    wd = math.sqrt(lo * hi)
    timescale = (
        (1 / (pick.lr * hi) / steps_per_epoch, 1 / (pick.lr * lo) / steps_per_epoch)
        if steps_per_epoch
        else None
    )
    rec = Recommendation(
        max_lr=pick.lr,
        wd=wd,
        value=pick.best_value,
        noise=float(pick.noise if pick.noise is not None else r.noise),
        wd_band=(lo, hi),
        lr_band=(min(lv.lr for lv in good), max(lv.lr for lv in good)),
        lr_levels=len(good),
        live_levels=len(live),
        product_band=(pick.lr * lo, pick.lr * hi),
        timescale_epochs=timescale,
        wd_flat=pick.flat,
        wd_edge=_edge(lo, hi, r.wd_range),
        runs=r.runs,
        level_runs=pick.runs,
        metric=r.metric,
    )
    return Recommendation(**{**rec.as_dict(), "sentence": sentence(rec)})


def _as_good(lv: Level, top: Level, sign: float, pooled: float) -> bool:
    """Within ``Z_PLATEAU`` standard errors of the best level's smoothed best."""

    def se(x: Level) -> float:
        noise = x.noise if x.noise is not None and math.isfinite(x.noise) else pooled
        return float(noise) / math.sqrt(max(float(x.best_n or 1.0), 1.0))

    gap = sign * (float(top.best_value or 0) - float(lv.best_value or 0))
    return lv is top or gap <= Z_PLATEAU * math.hypot(se(lv), se(top))


def _edge(lo: float, hi: float, searched: tuple[float, float]) -> str | None:
    """The band reaches an end of the searched wd range (within 0.1 decade): it is a bound."""
    if not all(math.isfinite(x) and x > 0 for x in searched):
        return None
    if (
        math.log10(hi) >= math.log10(searched[1]) - 0.1
        and math.log10(lo) > math.log10(searched[0]) + 0.1
    ):
        return "high"
    if (
        math.log10(lo) <= math.log10(searched[0]) + 0.1
        and math.log10(hi) < math.log10(searched[1]) - 0.1
    ):
        return "low"
    return None


def sentence(rec: Recommendation) -> str:
    """``use max_lr=X, wd=Y`` and the band, in one line a person can act on."""
    lo, hi = rec.wd_band
    if rec.wd_flat:
        band = f"wd does not matter here (between {lo:.2g} and {hi:.2g} at this lr)"
    elif rec.wd_edge == "high":
        band = f"wd {lo:.2g} or more at this lr (the band reaches the top of the searched wd range: a bound)"
    elif rec.wd_edge == "low":
        band = (
            f"wd up to {hi:.2g} at this lr (the band reaches the bottom of the searched wd range)"
        )
    else:
        band = f"wd {lo:.2g}..{hi:.2g} at this lr"
    product = f"lr x wd {rec.product_band[0]:.2g}..{rec.product_band[1]:.2g}"
    if rec.timescale_epochs:
        t = rec.timescale_epochs
        product += f", a decay timescale 1/(lr x wd) of {t[0]:.3g}..{t[1]:.3g} epochs"
    lrs = (
        f"max_lr {rec.lr_band[0]:.3g}..{rec.lr_band[1]:.3g} ({rec.lr_levels} of {rec.live_levels} live lr levels)"
        if rec.lr_levels > 1
        else f"only this lr level of {rec.live_levels} live ones"
    )
    noise = (
        f"one run's seed noise {rec.noise:.4f}"
        if rec.noise > 1e-4 * abs(rec.value)  # below that: no spread seen at all
        else "no seed noise measurable from these runs: the band may be wider"
    )
    return (
        f"use max_lr={rec.max_lr:.3g}, wd={rec.wd:.2g}: {rec.metric} {rec.value:.4f} (smoothed; "
        f"{noise}). As good within the noise: {band} ({product}); "
        f"{lrs}. From {rec.runs} runs, {rec.level_runs} at this lr."
    )
