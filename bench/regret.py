"""Each search's answer read against the task's dense grid (issue 35, item 1).

A sweep of ``bench/search_suite.py`` stores its runs (``job_runs``: lr, wd, planned epochs,
validation accuracy or a failure, when it finished, what it cost) and its searched ranges, so
answers are replayed offline at every point of the sweep:

- **model**: ``analysis.recommend`` on ``analysis.surface.fit`` of the runs so far (rungs
  included), what ``sweep=lr_wd`` ends with now;
- **best run**: the full run with the best validation accuracy so far (the peer's answer, and
  what ours answered before).

An answer's **expected quality** is the dense grid's cell means over its seeds (validation and
test; a failed seed counts as chance), interpolated bilinearly in (log lr, log wd) and clamped
at the grid's edge. Regret = the grid's best cell (by mean validation) - the answer, in points,
on validation and on test. Before an arm has an answer, its regret is that of chance.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite  # noqa: E402

sys.path.insert(0, str(suite.ROOT))
from analysis.recommend import recommend  # noqa: E402
from analysis.surface import Run, fit  # noqa: E402

CHANCE = 0.1  # both suite datasets have 10 classes
WIDE_RANGES = {"lr": [1e-3, 1.0], "wd": [1e-6, 1e-1]}  # the peer's space (search_suite.WIDE)
ARMS = [
    "default",
    "replicate",
    "rungs",
    "gp_full",
    "gp_rungs",
    "model_rungs",
    "hedged",
    "peer0",
    "random_full",
]
PEERS = ("peer", "peer0")
CHECKPOINTS = (1, 2, 3, 4, 6, 8, 10, 14, 20, 27)  # full-run equivalents for the anytime table


def job_runs(sweep: Path, t0: float, full: int) -> list[list]:
    """A sweep's runs in the order they finished: [lr, wd, planned epochs, best_val_acc or
    None (failed), status, seconds since start, epochs spent]."""
    import yaml

    out = []
    for f in sweep.glob("*/summary.json"):
        cfg_file = f.parent / ".hydra" / "config.yaml"
        if not cfg_file.is_file():
            continue
        cfg = yaml.safe_load(cfg_file.read_text())
        s = json.loads(f.read_text())
        ok = s.get("status") == "completed" and s.get("best_val_acc") is not None
        out.append(
            [
                float(cfg["max_lr"]),
                float(cfg["wd"]),
                int(cfg.get("epochs") or full),
                float(s["best_val_acc"]) if ok else None,
                s.get("status"),
                f.stat().st_mtime - t0,
                float(s.get("epochs") or 0),
            ]
        )
    return sorted(out, key=lambda r: r[5])


def searched_ranges(url: str) -> dict:
    """The study's searched max_lr and wd ranges (None where not searched as a float)."""
    import optuna

    from sweeper._recommend import searched

    study = optuna.load_study(study_name=optuna.get_all_study_names(url)[0], storage=url)
    return {"lr": searched(study, "max_lr"), "wd": searched(study, "wd")}


class Grid:
    """A stored dense grid's cell means, interpolated in (log10 lr, log10 wd)."""

    def __init__(self, name: str) -> None:
        _, rows = suite.read_grid(suite.OUT / f"{name}.csv")
        cells: dict[tuple[float, float], list[tuple[float, float]]] = {}
        for r in rows:
            ok = r["status"] == "completed" and r["best_val_acc"] is not None
            v = (r["best_val_acc"], r["test_acc_at_best"]) if ok else (CHANCE, CHANCE)
            cells.setdefault((r["max_lr"], r["wd"]), []).append(v)
        self.lrs = sorted({k[0] for k in cells})
        self.wds = sorted({k[1] for k in cells})
        self.val = np.array(
            [[np.mean([v[0] for v in cells[(a, b)]]) for b in self.wds] for a in self.lrs]
        )
        self.test = np.array(
            [[np.mean([v[1] for v in cells[(a, b)]]) for b in self.wds] for a in self.lrs]
        )
        i, j = np.unravel_index(np.argmax(self.val), self.val.shape)
        self.best_val, self.best_test = float(self.val[i, j]), float(self.test[i, j])

    def quality(self, lr: float, wd: float) -> tuple[float, float]:
        """(validation, test) expected at (lr, wd): bilinear in log space, clamped."""
        x, y = np.log10(self.lrs), np.log10(self.wds)
        a = float(np.clip(math.log10(lr), x[0], x[-1]))
        b = float(np.clip(math.log10(wd), y[0], y[-1]))
        i = min(int(np.searchsorted(x, a, side="right")) - 1, len(x) - 2)
        j = min(int(np.searchsorted(y, b, side="right")) - 1, len(y) - 2)
        u, v = (a - x[i]) / (x[i + 1] - x[i]), (b - y[j]) / (y[j + 1] - y[j])

        def at(m: np.ndarray) -> float:
            return float(
                (1 - u) * (1 - v) * m[i, j]
                + u * (1 - v) * m[i + 1, j]
                + (1 - u) * v * m[i, j + 1]
                + u * v * m[i + 1, j + 1]
            )

        return at(self.val), at(self.test)

    def regret(self, answer: tuple[float, float] | None) -> tuple[float, float]:
        """Points below the grid's best cell (validation, test); chance without an answer."""
        val, test = (CHANCE, CHANCE) if answer is None else self.quality(*answer)
        return 100 * (self.best_val - val), 100 * (self.best_test - test)


def model_fit(runs: list[list], ranges: dict, full: int):
    """The model the shipped sweep fits to these runs and its recommendation (None: < 2 runs)."""
    rs = [Run(r[0], r[1], r[3], None if r[2] >= full else float(r[2])) for r in runs]
    if sum(r.value is not None for r in rs) < 2:
        return None
    lr = _covering(ranges.get("lr"), [r.lr for r in rs])
    wd = _covering(ranges.get("wd"), [r.wd for r in rs])
    rungs = any(r.epochs is not None for r in rs)
    s = fit(
        rs,
        metric="best_val_acc",
        maximize=True,
        lr_range=lr,
        wd_range=wd,
        full_epochs=full if rungs else None,
    )
    return s, recommend(s)


def model_answer(runs: list[list], ranges: dict, full: int) -> tuple[float, float] | None:
    """What the shipped sweep answers from these runs (``analysis.recommend``)."""
    fitted = model_fit(runs, ranges, full)
    if fitted is None:  # no model of one run: that run is the answer
        return best_run_answer(runs, full)
    return fitted[1].max_lr, fitted[1].wd


def band_holds_best(rec: dict, full: int, grid: Grid) -> bool:
    """The final recommendation's band (the model's region) holds the grid's best cell."""
    from analysis.recommend import in_band

    fitted = model_fit(rec["runs"], rec["ranges"], full)
    if fitted is None:
        return False
    i, j = np.unravel_index(np.argmax(grid.val), grid.val.shape)
    return bool(in_band(fitted[0], fitted[1], [grid.lrs[i]], [grid.wds[j]])[0])


def _covering(rng, values):
    lo, hi = min(values), max(values)
    return (min(lo, rng[0]), max(hi, rng[1])) if rng else (lo, hi)


def best_run_answer(runs: list[list], full: int) -> tuple[float, float] | None:
    done = [r for r in runs if r[2] >= full and r[3] is not None]
    return None if not done else max(done, key=lambda r: r[3])[:2]


def anytime(rec: dict, full: int, how: str) -> list[tuple[float, tuple[float, float] | None]]:
    """(epochs spent, the answer then) after each run; the range test's epochs first."""
    runs = rec["runs"]
    timeline = rec.get("timeline") or []
    spent = timeline[0][0] if len(timeline) == len(runs) + 1 else 0.0
    out: list[tuple[float, tuple[float, float] | None]] = [(spent, None)]
    for k, r in enumerate(runs):
        spent += r[6]
        so_far = runs[: k + 1]
        answer = (
            model_answer(so_far, rec["ranges"], full)
            if how == "model"
            else best_run_answer(so_far, full)
        )
        out.append((spent, answer))
    return out


def at(curve: list[tuple[float, tuple[float, float] | None]], epochs: float):
    """The answer held at ``epochs`` spent."""
    held = None
    for spent, answer in curve:
        if spent > epochs + 1e-9:
            break
        held = answer
    return held


def report(results: dict, arms: list[str], plot: Path | None) -> None:
    """Per task: each arm's final regret (model and best-run answers), reach, epochs; the
    anytime table at CHECKPOINTS full-run equivalents; PNGs of the anytime curves."""
    print(
        "| task | arm (answer) | seeds | median regret val / test (pts) [IQR test] | expected reach "
        "| band holds the grid's best cell | median epochs |"
    )
    print("|---|---|---|---|---|---|---|")
    curves_by_task: dict[str, dict[str, list[list[float]]]] = {}
    for name, task in suite.TASKS.items():
        grid = Grid(name)
        full = task.epochs
        target = grid.best_test - 0.01
        curves_by_task[name] = {}
        for arm in arms:
            recs = [v for k, v in results.items() if k.startswith(f"{name}/{arm}/") and "runs" in v]
            if not recs:
                continue
            hows = ("best",) if arm in PEERS else ("model", "best")  # the peer has no model
            for how in hows:
                curves = [anytime(r, full, how) for r in recs]
                final = [grid.regret(c[-1][1]) for c in curves]
                tests = sorted(f[1] for f in final)
                reach = sum(grid.best_test - f[1] / 100 >= target for f in final)
                q = np.percentile(tests, [25, 75])
                tag = " (held out)" if task.held_out else ""
                holds = (
                    f"{sum(band_holds_best(r, full, grid) for r in recs)}/{len(recs)}"
                    if how == "model"
                    else "-"
                )
                print(
                    f"| {name}{tag} | {arm} ({how}) | {len(recs)} | "
                    f"{statistics.median(f[0] for f in final):.2f} / {statistics.median(tests):.2f} "
                    f"[{q[0]:.2f}, {q[1]:.2f}] | {reach}/{len(recs)} | {holds} | "
                    f"{statistics.median(c[-1][0] for c in curves):.0f} |"
                )
                curves_by_task[name][f"{arm} ({how})"] = [
                    [grid.regret(at(c, m * full))[1] for m in CHECKPOINTS] for c in curves
                ]
    print()
    print(
        "Anytime: median test regret (points) at k full-run equivalents of epochs (range test included)"
    )
    print("| task | arm (answer) | " + " | ".join(f"{m}" for m in CHECKPOINTS) + " |")
    print("|---|---|" + "---|" * len(CHECKPOINTS))
    for name, by_arm in curves_by_task.items():
        for label, rows in by_arm.items():
            med = np.median(np.array(rows), axis=0)
            print(f"| {name} | {label} | " + " | ".join(f"{x:.1f}" for x in med) + " |")
    if plot is not None:
        _plot(curves_by_task, plot)


PLOTTED = (
    "default (model)",
    "default (best)",
    "rungs (model)",
    "model_rungs (model)",
    "gp_full (model)",
    "random_full (best)",
    "peer0 (best)",
)
NO_ANSWER_PTS = 20.0  # a median above this is "no answer yet" (chance): drawn at the top edge


def _plot(curves_by_task: dict, out: Path) -> None:
    """One PNG a task: the median test regret of the answer so far for the shipped default (its
    model's answer and its best single run), the old default (rungs), GP proposals and the peer;
    medians above NO_ANSWER_PTS (no answer yet: chance) are cut at the top edge."""
    import plotly.graph_objects as go

    out.mkdir(parents=True, exist_ok=True)
    for name, by_arm in curves_by_task.items():
        fig = go.Figure()
        top = 0.0
        for label in PLOTTED:
            rows = by_arm.get(label)
            if not rows:
                continue
            med = np.median(np.array(rows), axis=0)
            shown = [m if m <= NO_ANSWER_PTS else None for m in med]
            top = max([top, *(m for m in shown if m is not None)])
            fig.add_trace(
                go.Scatter(
                    x=list(CHECKPOINTS),
                    y=shown,
                    mode="lines+markers",
                    name=f"{label} (n={len(rows)})",
                    line={"dash": "dot" if "(best)" in label else "solid"},
                )
            )
        fig.update_layout(
            title=f"{name}: median test regret of the answer so far<br>"
            "<sup>read from the task's dense grid (cell means over 3 seeds); a point is missing "
            "while the arm has no answer yet</sup>",
            xaxis_title="epochs spent, in full-run equivalents (range test included)",
            yaxis_title="regret, points below the grid's best cell",
            yaxis_range=[0, max(2.0, top * 1.1)],
            width=900,
            height=500,
        )
        fig.write_image(out / f"anytime_{name}.png")
