"""How much of the balance analysis a rerun repeats: replicate analyses of every suite grid.

Each replicate keeps one seed per (max_lr, wd) cell of a stored dense grid (bench/suite/*.csv,
3 seeds a cell), drawn at random, and is analysed as a study of its own would be. Per grid:

- coverage: the share of replicates whose slope interval covers the full grid's slope;
- headline: the share of replicates whose verdict's first clause (the ridge's direction:
  smaller wd at larger lr, no trend shown, wd does not matter, ...) equals the most common
  one, and the share whose named prediction (what the interval admits) does;
- recommendation: the share of ordered replicate pairs (i, j) whose recommended (max_lr, wd)
  from i lies inside j's band (j's as-good lr levels and j's wd band), and the share whose
  recommended max_lr is the full grid's;
- the band against the dense grid (issue 36): the replicate's band (its model's region as good
  as its best) holds the grid's best cell (by mean validation over 3 seeds), holds no cell more
  than 1 point below it, and the recommendation's expected regret (bench/regret.py's reading).

    python bench/bench_stability.py [--draws 20] [--tasks all]
    python bench/bench_stability.py --presets --tasks mnist1d_cnn1d_sgd,mnist1d_mlp_sgd

Results and the command: BENCHMARKS.md, "Stability of the answer".
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import suite  # noqa: E402


def draw(rows: list[dict], rng: random.Random) -> list[dict]:
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        cells[(r["max_lr"], r["wd"])].append(r)
    return [rng.choice(runs) for _, runs in sorted(cells.items())]


def headline(r) -> str:
    """The verdict's headline as a category (numbers left out): since issue 36 item 4 one
    headline "wd does not matter between a and b; above it, <what the limit does with lr>",
    so the category is the limit's direction, with "flat, then" where a flat range leads."""
    flat = "flat, then " if r.flat_range else ""
    if r.bound_trend is not None:  # ridges beyond the wd range's end read as bounds
        word = "smaller" if r.bound_trend == "falling" else "larger"
        return f"{flat}{word} wd at larger lr (bound)"
    if r.slope_ci is None:
        return f"{flat}not enough evidence" if flat else "not enough evidence"
    lo, hi = r.slope_ci
    trend = (
        "smaller wd at larger lr"
        if hi < 0
        else "larger wd at larger lr"
        if lo > 0
        else "no trend shown"
    )
    if r.trend_repeated is not None and r.trend_repeated[0] == 0:
        trend = "no trend shown"  # the mean's trend that no one-seed replicate repeats
    return f"{flat}{trend}"


def contradicts(a: str, b: str) -> bool:
    """Two headlines tell different stories: one says the limit falls with lr, the other that
    it rises. "no trend shown" or "not enough evidence" beside a trend is a coarser reading
    of the same picture (a one-seed replicate resolves less than the grid), not another one."""
    da, db = _direction(a), _direction(b)
    return da is not None and db is not None and da != db


def _direction(head: str) -> str | None:
    return "falls" if "smaller" in head else "rises" if "larger wd" in head else None


def inside(rec: dict, band: dict) -> bool:
    lo, hi = band["lr_band"]
    w0, w1 = band["wd_band"]
    return lo * 0.999 <= rec["max_lr"] <= hi * 1.001 and w0 * 0.999 <= rec["wd"] <= w1 * 1.001


def band_against_grid(
    name: str, rows: list[dict], rec: dict, grid
) -> tuple[bool, bool, float, int, int]:
    """The replicate's band (the model of its runs, as region) against the dense grid's cell
    means: (holds the grid's best cell, holds no cell more than 1 point below it, the
    recommendation's expected regret in points, grid cells in the band, of them more than 2
    points below the best)."""
    import numpy as np

    from analysis.recommend import in_band
    from analysis.surface import Run, fit

    runs = [
        Run(r["max_lr"], r["wd"], r["best_val_acc"] if r["status"] == "completed" else None)
        for r in rows
    ]
    s = fit(
        runs,
        metric="best_val_acc",
        maximize=True,
        chance=0.1,
        wd_range=(min(suite.WDS), max(suite.WDS)),
    )
    lrs, wds = np.meshgrid(grid.lrs, grid.wds, indexing="ij")
    inside_band = in_band(s, rec, lrs.ravel(), wds.ravel()).reshape(lrs.shape)
    best = np.unravel_index(np.argmax(grid.val), grid.val.shape)
    below = grid.val < grid.best_val - 0.01
    regret_pts = 100 * (grid.best_val - grid.quality(rec["max_lr"], rec["wd"])[0])
    far = grid.val < grid.best_val - 0.02
    return (
        bool(inside_band[best]),
        not bool((inside_band & below).any()),
        regret_pts,
        int(inside_band.sum()),
        int((inside_band & far).sum()),
    )


def one_task(name: str, draws: int) -> dict:
    import regret

    _, rows = suite.read_grid(suite.OUT / f"{name}.csv")
    full = suite.grid_verdict(name, rows)
    rng = random.Random(0)
    drawn = [draw(rows, rng) for _ in range(draws)]
    reps = [suite.grid_verdict(name, d, seed=k) for k, d in enumerate(drawn)]
    grid = regret.Grid(name)
    bands = [
        band_against_grid(name, d, r.recommendation, grid)
        for d, r in zip(drawn, reps, strict=True)
        if r.recommendation
    ]
    with_ci = [r for r in reps if r.slope_ci is not None]
    covered = (
        sum(r.slope_ci[0] <= full.slope <= r.slope_ci[1] for r in with_ci)
        if full.slope is not None
        else 0
    )
    heads = Counter(headline(r) for r in reps)
    mine = [headline(r) for r in reps]
    full_head = headline(full)
    preds = Counter(r.prediction for r in reps)
    recs = [r.recommendation for r in reps if r.recommendation]
    pairs = [(a, b) for i, a in enumerate(recs) for j, b in enumerate(recs) if i != j]
    full_rec = full.recommendation or {}
    return {
        "task": name,
        "held_out": suite.TASKS[name].held_out,
        "full_slope": full.slope,
        "full_headline": headline(full),
        "full_rec": full_rec.get("sentence", ""),
        "with_ci": len(with_ci),
        "covered": covered,
        "headline": heads.most_common(1)[0],
        # issue 36 item 6: no replicate tells another story than the full grid / another one
        "agree_full": sum(not contradicts(h, full_head) for h in mine),
        "agree_pairs": sum(
            not contradicts(a, b) for i, a in enumerate(mine) for b in mine[i + 1 :]
        ),
        "head_pairs": len(mine) * (len(mine) - 1) // 2,
        "prediction": preds.most_common(1)[0],
        "draws": draws,
        "rec_inside": sum(inside(a, b) for a, b in pairs),
        "pairs": len(pairs),
        "same_lr": sum(math.isclose(r["max_lr"], full_rec.get("max_lr", math.nan)) for r in recs),
        "recs": len(recs),
        "best_in_band": sum(b[0] for b in bands),
        "nothing_1pt_below": sum(b[1] for b in bands),
        "rec_within_half_pt": sum(b[2] <= 0.5 for b in bands),
        "band_cells": statistics.mean(b[3] for b in bands) if bands else math.nan,
        "grid_cells": grid.val.size,
        "far_share": sum(b[4] for b in bands) / max(sum(b[3] for b in bands), 1),
        "rec_regret_median": sorted(b[2] for b in bands)[len(bands) // 2] if bands else math.nan,
    }


def presets(names: list[str]) -> None:
    """The real ``sweep=balance`` replicates stored in ``bench/suite/presets.json`` (``python
    bench/suite.py preset <task>``): per task, each replicate's interval against the full grid's
    slope, its headline, and whether its recommendation lies in every other replicate's band."""
    import json

    stored = json.loads((suite.OUT / "presets.json").read_text())
    print(
        "| task | replicate (run seeds) | runs | headline | slope [90%] | covers the full grid's slope | overlaps the full grid's interval | rec. (max_lr, wd) | inside the other replicates' bands |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        _, rows = suite.read_grid(suite.OUT / f"{name}.csv")
        full = suite.grid_verdict(name, rows)
        reps = {
            seeds: suite.grid_verdict(name, suite.preset_rows(stored[key]))
            for seeds in suite.PRESET_SEEDS
            if (key := f"{name}-seeds{seeds.replace(',', '')}") in stored
        }
        for seeds, r in reps.items():
            rec = r.recommendation
            others = [o.recommendation for k, o in reps.items() if k != seeds and o.recommendation]
            ins = f"{sum(inside(rec, o) for o in others)}/{len(others)}" if rec else "-"
            ci = (
                f"{r.slope:+.2f} [{r.slope_ci[0]:+.2f}, {r.slope_ci[1]:+.2f}]"
                if r.slope_ci
                else "-"
            )
            covers = (
                "-"
                if not r.slope_ci or full.slope is None
                else "yes"
                if r.slope_ci[0] <= full.slope <= r.slope_ci[1]
                else "no"
            )
            overlaps = (
                "-"
                if not r.slope_ci or not full.slope_ci
                else "yes"
                if r.slope_ci[0] <= full.slope_ci[1] and full.slope_ci[0] <= r.slope_ci[1]
                else "no"
            )
            point = f"{rec['max_lr']:.3g}, {rec['wd']:.2g}" if rec else "-"
            runs = len(stored[f"{name}-seeds{seeds.replace(',', '')}"]["rows"])
            print(
                f"| {name} | {seeds} | {runs} | {headline(r)} | {ci} | {covers} | {overlaps} | {point} | {ins} |",
                flush=True,
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--draws", type=int, default=20)
    p.add_argument("--tasks", default="all")
    p.add_argument("--presets", action="store_true", help="the stored sweep=balance replicates")
    a = p.parse_args()
    names = list(suite.TASKS) if a.tasks == "all" else a.tasks.split(",")
    if a.presets:
        presets(names)
        return
    print(
        "| task | full grid | slope covered | same headline | same named prediction | rec. inside another's band | rec. max_lr = full grid's | band holds the grid's best cell | band holds no cell > 1 pt below | band's grid cells (mean), share > 2 pt below | rec. within 0.5 pt (median regret) | no other story than the full grid | no other story than another replicate |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        s = one_task(name, a.draws)
        slope = f"{s['full_slope']:+.2f}" if s["full_slope"] is not None else "no slope"
        tag = " (held out)" if s["held_out"] else ""
        print(
            f"| {name}{tag} | {s['full_headline']}, {slope} | {s['covered']}/{s['with_ci']} | "
            f"{s['headline'][1]}/{s['draws']} ({s['headline'][0]}) | {s['prediction'][1]}/{s['draws']} ({s['prediction'][0]}) | "
            f"{s['rec_inside']}/{s['pairs']} | {s['same_lr']}/{s['recs']} | "
            f"{s['best_in_band']}/{s['recs']} | {s['nothing_1pt_below']}/{s['recs']} | "
            f"{s['band_cells']:.1f}/{s['grid_cells']}, {s['far_share']:.2f} | "
            f"{s['rec_within_half_pt']}/{s['recs']} ({s['rec_regret_median']:.2f}) | "
            f"{s['agree_full']}/{s['draws']} | {s['agree_pairs']}/{s['head_pairs']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
