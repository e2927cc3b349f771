"""One recommendation from the model of a study's runs (``analysis.surface``): a (max_lr, wd) to
use and the band of settings as good as it, read from the model's expected quality, never from
the best single run (the maximum of many noisy runs, which moves from rerun to rerun).

- **The pick**: among the settings the runs support (the model knows them as well as two runs
  would: no answer from an extrapolation; a band's members need one run's worth), the middle of those predicted within
  half the margin of the best prediction (a rerun that moves the argmax along a flat top
  lands on the same middle).
- **"As good"**: predicted within a tolerance of the best prediction; the tolerance is the
  larger of a practical margin (``margin``, default 0.5 point) and what the data resolves at
  that setting (``Z_RESOLVE`` standard deviations of its difference from the top, the two
  taken as independent: an upper bound, as ``compare`` takes it). A setting is out only where
  the runs show it worse; the smallest tolerance (a setting as sure as the top) is said beside
  the band. A tolerance from the top's sd alone let the top's own luck (the best of many noisy
  predictions) push less sure neighbours out: the dense grid's best cell fell outside in 5-7
  of 10 one-seed replicates on three suite grids (BENCHMARKS.md, "The band against the dense
  grid").
- **The band** at the pick's lr: the wd range as good as the pick, cut at any run near that lr
  that scored beyond the tolerance and its noise below the pick (one run 10 points down ends
  "does not matter"); the lr span of settings as good at some wd; both as lr x wd and as the
  decay timescale 1/(lr x wd). A band that reaches an end of the searched range is a bound.
- **Status in the same sentence**: thin evidence (few full-length runs, or a tolerance set by
  what the runs resolve rather than the margin), a bound, a design that stopped undecided.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from analysis.surface import BAND_SUPPORT, Surface, is_accuracy

MARGIN = 0.005  # "as good": half a point of accuracy, unless the data resolves less
Z_RESOLVE = 2.0  # the pick's prediction +- this many sd: what the runs can tell apart
THIN_RESOLVE = 2.0  # the runs resolve only this many times the margin: thin
THIN_RUNS = 10  # fewer full-length runs than this: the band is an extrapolation, said so
NEAR_LR = 0.25  # decades: runs this close to the pick's lr judge its wd band
Z_RUN = 2.0  # a run below the pick by the tolerance plus this many noise sd ends the band
CORE = 0.5  # the pick is the middle of the settings within this share of the margin of the top
EDGE = 0.1  # decades: a band this close to the searched range's end reaches it


@dataclass(frozen=True)
class Recommendation:
    max_lr: float
    wd: float
    value: float  # the model's prediction of a full run there
    top: float  # the best prediction among supported settings (the band is read against it)
    sd: float  # the pick's standard deviation
    noise: float  # one run's seed noise (the metric's units)
    noise_source: str  # analysis.surface.Noise.words()
    tolerance: float  # "as good" = predicted within this of the top (more where less sure)
    margin: float  # the practical margin asked for
    wd_band: tuple[float, float]  # as good at max_lr
    lr_band: tuple[float, float]  # lrs as good at some wd
    lr_levels: int  # distinct lrs run inside lr_band
    live_levels: int  # distinct lrs run
    product_band: tuple[float, float]  # lr x wd over wd_band at max_lr
    timescale_epochs: tuple[float, float] | None  # 1 / (lr x wd) in epochs over wd_band
    wd_flat: bool  # the band spans the searched wd range at this lr, no run there beyond it
    wd_edge: str | None  # "high" | "low": the band reaches that end of the searched wd range
    lr_edge: str | None  # "high" | "low": the lr band reaches that end of the searched range
    thin: str | None  # why the evidence is thin, or None
    stopped: str | None  # the design's own stop, when it ended undecided
    runs: int  # runs the model was fitted to
    full_runs: int  # of them full-length
    level_runs: int  # runs within NEAR_LR of max_lr
    metric: str
    sentence: str = ""
    lr_key: str = "max_lr"  # the task's names for the two settings, as the sentence says them
    wd_key: str = "wd"
    top_sd: float = 0.0  # the top's standard deviation (a band member's tolerance reads it)

    def as_dict(self) -> dict:
        return asdict(self)


def practical_margin(metric: str, values) -> float:
    """``MARGIN`` for an accuracy; for another metric the same share of its best |value|."""
    if is_accuracy(metric):
        return MARGIN
    finite = [abs(float(v)) for v in values if v is not None and math.isfinite(v)]
    return MARGIN * max(finite, default=1.0)


def recommend(
    s: Surface,
    *,
    margin: float | None = None,
    steps_per_epoch: float | None = None,
    stopped: str | None = None,
    keys: tuple[str, str] = ("max_lr", "wd"),
) -> Recommendation:
    """The recommendation of the model ``s``: a pick among supported settings and its band.
    ``margin``: "as good" at the least (default :func:`practical_margin`); ``keys``: the
    task's names of lr and wd (``sweep_keys``), as the sentence says them."""
    if margin is None:
        margin = practical_margin(s.metric, [r.value for r in s.runs])
    lrs, wds = s.mesh()
    lr_g, wd_g = np.meshgrid(lrs, wds)  # (wd, lr)
    mean, sd = (a.reshape(lr_g.shape) for a in s.predict(lr_g.ravel(), wd_g.ravel()))
    sign = 1.0 if s.maximize else -1.0
    signed = sign * mean
    ok = s.supported(lr_g.ravel(), wd_g.ravel()).reshape(lr_g.shape)
    near = s.supported(lr_g.ravel(), wd_g.ravel(), BAND_SUPPORT).reshape(lr_g.shape)
    top_i, top_j = (
        int(x) for x in np.unravel_index(np.argmax(np.where(ok, signed, -np.inf)), signed.shape)
    )
    top_sd = float(sd[top_i, top_j])
    # what the runs resolve: the difference of two predictions as uncertain as the top's
    tolerance = float(_tolerances(margin, top_sd, top_sd))
    i, j = _centre(ok & (signed >= signed[top_i, top_j] - CORE * margin), top_i, top_j)
    good = near & (signed >= signed[top_i, top_j] - _tolerances(margin, top_sd, sd))
    lo, hi = _run(good[:, j], i)
    limit = float(signed[top_i, top_j]) - tolerance - Z_RUN * s.noise.sd  # signed: larger is better
    lo, hi = _cut_by_runs(s, float(lrs[j]), wds, (lo, hi), i, limit)
    c0, c1 = _run(good.any(0), j)
    lr_band = (float(lrs[c0]), float(lrs[c1]))
    wd_band = (float(wds[lo]), float(wds[hi]))
    ran = sorted({round(math.log10(r.lr), 4) for r in s.runs})
    inside = [x for x in ran if math.log10(lr_band[0]) - 1e-9 <= x <= math.log10(lr_band[1]) + 1e-9]
    lr = float(lrs[j])
    rec = Recommendation(
        max_lr=lr,
        wd=float(wds[i]),
        value=float(mean[i, j]),
        top=float(mean[top_i, top_j]),
        sd=float(sd[i, j]),
        noise=s.noise.sd,
        noise_source=s.noise.words(),
        tolerance=tolerance,
        margin=margin,
        wd_band=wd_band,
        lr_band=lr_band,
        lr_levels=len(inside),
        live_levels=len(ran),
        product_band=(lr * wd_band[0], lr * wd_band[1]),
        timescale_epochs=(
            (1 / (lr * wd_band[1]) / steps_per_epoch, 1 / (lr * wd_band[0]) / steps_per_epoch)
            if steps_per_epoch
            else None
        ),
        wd_flat=lo == 0 and hi == len(wds) - 1,
        wd_edge=_edge(wd_band, s.wd_range),
        lr_edge=_edge(lr_band, s.lr_range),
        thin=_thin(s, tolerance, margin),
        stopped=stopped,
        runs=len(s.runs),
        full_runs=s.full_runs,
        level_runs=sum(abs(math.log10(r.lr / lr)) <= NEAR_LR for r in s.runs),
        metric=s.metric,
        lr_key=keys[0],
        wd_key=keys[1],
        top_sd=top_sd,
    )
    return Recommendation(**{**rec.as_dict(), "sentence": sentence(rec)})


def compare(s: Surface, rec: Recommendation | dict, lr: float, wd: float) -> dict:
    """Another answer (``lr``, ``wd``) against the recommendation: the model's predicted
    difference (recommendation minus it, in the metric's direction: > 0 is the recommendation
    better) with its standard deviation, and whether it lies inside the band."""
    r = rec if isinstance(rec, dict) else rec.as_dict()
    m, sd = s.predict([r["max_lr"], lr], [r["wd"], wd])
    sign = 1.0 if s.maximize else -1.0
    diff = sign * float(m[0] - m[1])
    spread = float(math.hypot(sd[0], sd[1]))  # the two share runs: an upper bound on the sd
    lo, hi = r["lr_band"]
    plo, phi = r["product_band"]
    inside = lo <= lr <= hi and plo <= lr * wd <= phi
    same = diff <= float(_tolerances(r["tolerance"], float(sd[0]), sd[1]))
    return {
        "max_lr": lr,
        "wd": wd,
        "predicted": float(m[1]),
        "difference": diff,
        "difference_sd": spread,
        "inside_band": inside,
        "as_good": same,
    }


def in_band(s: Surface, rec: Recommendation | dict, lrs, wds) -> np.ndarray:
    """Whether each (lr, wd) is in the recommendation's band: predicted within its tolerance of
    the top, where the runs give a band member's support (the band as a region, not only its
    slice at the recommended lr)."""
    r = rec if isinstance(rec, dict) else rec.as_dict()
    mean, sd = s.predict(lrs, wds)
    sign = 1.0 if s.maximize else -1.0
    near = s.supported(np.asarray(lrs, float), np.asarray(wds, float), BAND_SUPPORT)
    top_sd = r.get("top_sd") or r["tolerance"] / (Z_RESOLVE * math.sqrt(2))  # older reports
    return near & (sign * mean >= sign * r["top"] - _tolerances(r["margin"], top_sd, sd))


def _tolerances(margin: float, top_sd: float, sd: np.ndarray | float) -> np.ndarray:
    """Each setting's "as good": the margin, or what the runs resolve of its difference from
    the top (``Z_RESOLVE`` sd, the two predictions taken as independent), whichever is more."""
    return np.maximum(margin, Z_RESOLVE * np.sqrt(top_sd**2 + np.asarray(sd) ** 2))


def _centre(core: np.ndarray, i: int, j: int) -> tuple[int, int]:
    """The middle of the core around the best prediction (i, j): its lr column nearest the
    middle of the core's lr span, then the middle of that column's wd stretch. A rerun that
    moves the argmax within a flat top lands on the same middle."""
    c0, c1 = _run(np.asarray(core.any(0)), j)
    cols = [c for c in range(c0, c1 + 1) if core[:, c].any()]
    j = min(cols, key=lambda c: (abs(c - (c0 + c1) / 2), -core[:, c].sum()))
    rows = np.flatnonzero(core[:, j])
    lo, hi = _run(core[:, j], int(rows[np.argmin(np.abs(rows - i))]))
    return (lo + hi) // 2, j


def _run(mask: np.ndarray, at: int) -> tuple[int, int]:
    """The contiguous stretch of ``mask`` around index ``at``."""
    lo = hi = at
    while lo > 0 and mask[lo - 1]:
        lo -= 1
    while hi < len(mask) - 1 and mask[hi + 1]:
        hi += 1
    return lo, hi


def _cut_by_runs(
    s: Surface, lr: float, wds: np.ndarray, band: tuple[int, int], at: int, limit: float
) -> tuple[int, int]:
    """The wd band at ``lr`` ends before any full run within ``NEAR_LR`` of it that scored below
    ``limit`` (signed: the pick less the tolerance and ``Z_RUN`` noise; a failed run always)."""
    sign = 1.0 if s.maximize else -1.0
    lo, hi = band
    for r in s.runs:
        if r.epochs is not None or abs(math.log10(r.lr / lr)) > NEAR_LR:
            continue
        bad = r.value is None or not math.isfinite(r.value) or sign * r.value < limit
        if not bad:
            continue
        k = int(np.argmin(np.abs(np.log10(wds) - math.log10(r.wd))))
        if at < k <= hi:
            hi = max(k - 1, at)
        elif lo <= k < at:
            lo = min(k + 1, at)
    return lo, hi


def _edge(band: tuple[float, float], searched: tuple[float, float]) -> str | None:
    """The band reaches one end of the searched range (within ``EDGE`` decades) but not both."""
    low = math.log10(band[0]) <= math.log10(searched[0]) + EDGE
    high = math.log10(band[1]) >= math.log10(searched[1]) - EDGE
    return "high" if high and not low else "low" if low and not high else None


def _thin(s: Surface, tolerance: float, margin: float) -> str | None:
    why = []
    if s.full_runs < THIN_RUNS:
        why.append(f"{s.full_runs} full-length runs (fewer than {THIN_RUNS})")
    if tolerance > THIN_RESOLVE * margin:
        why.append(f"the runs resolve only {tolerance:.3g}, not the {margin:.3g} asked for")
    return "; ".join(why) or None


def sentence(rec: Recommendation) -> str:
    """``use max_lr=X, wd=Y`` with its status and band, in one line a person can act on."""
    lo, hi = rec.wd_band
    lr_key, wd_key = rec.lr_key, rec.wd_key
    if rec.wd_flat:
        band = f"{wd_key} does not matter here (between {lo:.2g} and {hi:.2g} at this lr, no run there beyond the tolerance)"
    elif rec.wd_edge == "high":
        band = f"{wd_key} {lo:.2g} or more at this lr (a bound: the band reaches the top of the searched {wd_key} range)"
    elif rec.wd_edge == "low":
        band = f"{wd_key} up to {hi:.2g} at this lr (down to the smallest {wd_key} searched)"
    else:
        band = f"{wd_key} {lo:.2g}..{hi:.2g} at this lr"
    product = f"lr x wd {rec.product_band[0]:.2g}..{rec.product_band[1]:.2g}"
    if rec.timescale_epochs:
        t = rec.timescale_epochs
        product += f", a decay timescale 1/(lr x wd) of {t[0]:.3g}..{t[1]:.3g} epochs"
    lrs = f"{lr_key} {rec.lr_band[0]:.3g}..{rec.lr_band[1]:.3g}"
    if rec.lr_edge:
        lrs += f" (a bound: the band reaches the {'top' if rec.lr_edge == 'high' else 'bottom'} of the searched {lr_key} range)"
    status = []
    if rec.stopped:
        status.append(f"the design stopped undecided ({rec.stopped})")
    if rec.thin:
        status.append(f"evidence is thin: {rec.thin}")
    said = f" Caveat: {'; '.join(status)}." if status else ""
    return (
        f"use {lr_key}={rec.max_lr:.3g}, {wd_key}={rec.wd:.2g}: {rec.metric} {rec.value:.4f} +- {rec.sd:.4f} "
        f"predicted ({rec.noise_source}).{said} As good within {rec.tolerance:.3g} of the best prediction (more where the model is less sure): {band} "
        f"({product}); {lrs}. Model of {rec.runs} runs ({rec.full_runs} full-length), "
        f"{rec.level_runs} near this lr."
    )
