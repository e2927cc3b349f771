"""Write every report file for a study into one directory."""

from __future__ import annotations

import csv
import html
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import plotly.graph_objects as go

from reports import _figures as figures
from reports import _study_figures as study_figures
from reports._answer import study_answer
from reports._grid import grid_num_classes, grid_rows
from reports._study_data import (
    ReportError,
    Row,
    chance_value,
    objectives,
    rows,
    searched_range,
    steps_per_epoch,
)
from reports.chrome import chrome, chrome_found, export_images
from sweeper.record import StudyKey
from training.contract import FAILED_RUNS, OBJECTIVES
from training.range_test import load_range_test, range_test_figure

log = logging.getLogger(__name__)

IMAGE_HINT = "PNG/SVG skipped: kaleido needs a Chrome (Debian: apt-get install chromium; pip install kaleido); HTML written"


def _varied(rs: list[Row], *keys: str) -> str:
    """The first of ``keys`` the runs took more than one value of (a wd grid's curves are
    coloured by wd, not by its constant max_lr); the first key when none varies."""
    for key in keys:
        if len({repr(r.params.get(key)) for r in rs}) > 1:
            return key
    return keys[0]


def _trials_csv(rs: list[Row], objs: list[str], path: Path) -> None:
    params = sorted({k for r in rs for k in r.params})
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "number",
                "state",
                "status",
                *objs,
                *params,
                "epochs",
                "wall_s",
                "test_acc",
                "test_acc_at_best",
                "job_dir",
                "reason",
            ]
        )
        for r in rs:
            vals = r.values if r.values is not None else [""] * len(objs)
            w.writerow(
                [
                    r.number,
                    r.state,
                    r.status,
                    *vals,
                    *(r.params.get(p, "") for p in params),
                    r.epochs,
                    r.wall_s,
                    r.test_acc,
                    r.test_acc_at_best,
                    r.job_dir,
                    r.reason,
                ]
            )


@dataclass
class Trials:
    """What a report is drawn from: an Optuna study, or the job dirs of a Hydra grid."""

    name: str
    rows: list[Row]
    objectives: list[str]
    directions: list[str]  # "maximize" | "minimize", one per objective
    study: optuna.Study | None = None  # None for a grid: no history, importance or parallel plot
    bounds: dict = field(default_factory=dict)
    num_classes: int | None = None  # for the objective at chance (dead lr levels)
    searched: dict[str, tuple[float, float] | None] = field(default_factory=dict)  # key -> range
    frozen: list[optuna.trial.FrozenTrial] = field(default_factory=list)  # the study's trials

    @property
    def kind(self) -> str:
        return "study" if self.study is not None else "grid"


def write_report(
    study: optuna.Study,
    out: Path,
    *,
    pareto_x: str | None,
    pareto_y: str | None,
    lr: str,
    wd: str,
    images: bool | None = None,
    compare_with: optuna.Study | None = None,
) -> dict:
    """All report files for an Optuna study into ``out``; returns what was written and what was
    skipped (and why). ``compare_with``: another study whose pick is judged by this one's model."""
    with chrome(images) as images:
        frozen = study.get_trials(deepcopy=False)  # read once: every figure draws from these
        rs = rows(frozen)
        if not rs:
            raise ReportError(f"study {study.study_name!r} has no trials yet; nothing to report.")
        trials = Trials(
            study.study_name,
            rs,
            objectives(study),
            [d.name.lower() for d in study.directions],
            study,
            study.user_attrs.get(StudyKey.BOUNDS) or {},
            (study.user_attrs.get(StudyKey.FIXED_SETTINGS) or {}).get("data.num_classes"),
            {k: searched_range(frozen, k) for k in (lr, wd)},
            frozen,
        )
        return write_trials_report(
            trials,
            out,
            pareto_x=pareto_x,
            pareto_y=pareto_y,
            lr=lr,
            wd=wd,
            images=images,
            compare_with=compare_with,
        )


def write_grid_report(
    sweep_dir: Path,
    out: Path,
    *,
    pareto_x: str | None,
    pareto_y: str | None,
    lr: str,
    wd: str,
    images: bool | None = None,
) -> dict:
    """All report files for a Hydra basic-sweeper grid (its job dirs) into ``out``."""
    with chrome(images) as images:
        rs, objective = grid_rows(sweep_dir, lr, wd)
        trials = Trials(
            str(sweep_dir),
            rs,
            [objective],
            [OBJECTIVES[objective]],
            num_classes=grid_num_classes(sweep_dir),
        )
        return write_trials_report(
            trials, out, pareto_x=pareto_x, pareto_y=pareto_y, lr=lr, wd=wd, images=images
        )


def _pareto_axes(
    objs: list[str], dirs: list[str], x: str | None, y: str | None
) -> tuple[str, str, str, str]:
    """(x, its direction, y, its direction): two objectives by default, else the objective
    against training cost (epochs)."""
    if x is not None and y is not None:
        lookup = dict(zip(objs, dirs, strict=True))
        return x, lookup.get(x, "minimize"), y, lookup.get(y, "maximize")
    if len(objs) >= 2:
        (x, x_dir), (y, y_dir) = sorted(
            zip(objs, dirs, strict=True), key=lambda o: o[1] == "maximize"
        )[:2]
        return x, x_dir, y, y_dir
    return "epochs", "minimize", objs[0], dirs[0]


def write_trials_report(
    t: Trials,
    out: Path,
    *,
    pareto_x: str | None,
    pareto_y: str | None,
    lr: str,
    wd: str,
    images: bool | None = None,
    compare_with: optuna.Study | None = None,
) -> dict:
    """All report files into ``out`` (see :func:`write_report`)."""
    rs, objs, dirs = t.rows, t.objectives, t.directions
    out.mkdir(parents=True, exist_ok=True)
    images = chrome_found() if images is None else images
    written: list[str] = []
    skipped: dict[str, str] = {}
    notes: dict = {}
    design = (t.study.user_attrs.get(StudyKey.DESIGN) or {}) if t.study is not None else {}

    pareto_x, x_dir, pareto_y, y_dir = _pareto_axes(objs, dirs, pareto_x, pareto_y)
    plots: list[tuple[str, go.Figure]] = []
    try:
        plots.append(
            (
                "pareto",
                figures.pareto(
                    rs, objs, pareto_x, pareto_y, x_dir == "minimize", y_dir == "maximize"
                ),
            )
        )
    except ReportError as e:
        skipped["pareto"] = str(e)
    complete = sum(r.state == "complete" for r in rs)
    need = MIN_COMPLETE["lr_wd"]
    try:
        if complete < need:
            raise ReportError(
                f"the LR x WD map needs at least {need} complete trials, the {t.kind} has {complete}"
            )
        fig, notes["balance"] = figures.balance(
            rs,
            objs,
            objs[0],
            dirs[0] == "maximize",
            lr,
            wd,
            chance=chance_value(objs[0], t.num_classes),
            searched=t.searched,
            steps=steps_per_epoch(rs),
        )
        plots.append(("lr_wd", fig))
    except (ReportError, ValueError) as e:
        skipped["lr_wd"] = str(e)
    plots += _study_plots(t, objs, dirs, skipped)
    plots.append(("curves", figures.curves(rs, _varied(rs, lr, wd))))
    try:
        plots.append(
            ("lr_estimate", figures.lr_estimate(rs, objs, dirs[0] == "maximize", t.bounds))
        )
    except ReportError as e:
        skipped["lr_estimate"] = str(e)
    if t.bounds.get("path"):  # the study was seeded from a range test: draw it too
        try:
            result = load_range_test(t.bounds["path"])
            result.setdefault("iterations", len(result["lrs"]))
            result.setdefault("stop_reason", "")
            searched = (t.searched or {}).get(lr)
            if design:  # a design enqueued its levels in a far wider range: show what it ran
                ran = [float(r.params[lr]) for r in rs if isinstance(r.params.get(lr), float)]
                searched = (min(ran), max(ran)) if ran else None
            plots.insert(0, ("range_test", range_test_figure(result, searched)))
        except (FileNotFoundError, ValueError) as e:
            skipped["range_test"] = str(e)
    for name, fig in plots:
        fig.write_html(out / f"{name}.html", include_plotlyjs="directory")
        written.append(name)
    if images:
        export_images(plots, out)

    _trials_csv(rs, objs, out / "trials.csv")
    # a diverged or collapsed run by its name, as the console says it (Optuna stores it PRUNED)
    counts = Counter(r.status if r.status in FAILED_RUNS else r.state for r in rs)
    balance = notes.get("balance") or {}
    rec, compared = balance.get("recommendation"), None
    if t.study is not None and len(objs) == 1:  # the model the sweep ended with, rungs included
        rec, compared = study_answer(t.study, lr, wd, objs[0], dirs[0] == "maximize", compare_with)
    summary = {
        "study_name": t.name,
        "kind": t.kind,
        # read from the model of the runs: what to use, and the band as good as it
        "recommendation": rec,
        "compare_with": compared,
        "design_stop": design.get("stop"),
        "objectives": dict(zip(objs, dirs, strict=True)),
        "trials": dict(counts),
        "best": _best(t),
        "bounds": t.bounds or None,
        "written": sorted(written),
        "skipped": skipped,
        "images": images,
        **notes,
    }
    (out / "report.json").write_text(json.dumps(summary, indent=2, default=str))
    _page(out, summary, plots, rs)
    return summary


# complete trials a plot needs to say anything (a kernel map of 4 runs is an extrapolation)
MIN_COMPLETE = {"importance": 10, "parallel": 5, "lr_wd": 10}


def _study_plots(
    t: Trials, objs: list[str], dirs: list[str], skipped: dict[str, str]
) -> list[tuple[str, go.Figure]]:
    """History, importance and parallel-coordinate plots (``reports._study_figures``), each
    where the data can support it (skipped with the reason otherwise); with two objectives
    they are of the first, and each draws the best as best."""
    out: list[tuple[str, go.Figure]] = []
    if t.study is None:
        for name in ("history", "importance", "parallel"):
            skipped[name] = "needs an Optuna study (this is a Hydra grid)"
        return out
    complete = sum(r.state == "complete" for r in t.rows)
    makers = {
        "history": study_figures.history,
        "importance": study_figures.importance,
        "parallel": study_figures.parallel,
    }
    for name, make in makers.items():
        need = MIN_COMPLETE.get(name, 1)
        if complete < need:
            skipped[name] = f"needs at least {need} complete trials, the study has {complete}"
            continue
        try:
            out.append((name, make(t.frozen, objs[0], dirs[0] == "maximize")))
        except ValueError as e:  # no param searched in every trial
            skipped[name] = str(e)
    return out


def _best(t: Trials) -> list[dict]:
    """The best trial (one objective) or the Pareto front (several), as the study says; a grid's best run."""
    by_number = {r.number: r for r in t.rows}
    if t.study is not None:
        try:
            best = [t.study.best_trial] if len(t.objectives) == 1 else t.study.best_trials
        except ValueError:
            return []
        picked = [(tr.number, tr.values, tr.params) for tr in best]
    else:
        done = [r for r in t.rows if r.state == "complete" and r.values]
        if not done:
            return []
        sign = 1 if t.directions[0] == "maximize" else -1
        top = max(done, key=lambda r: sign * r.values[0])  # type: ignore[index]
        picked = [(top.number, top.values, top.params)]
    return [
        {
            "number": n,
            "values": v,
            "params": p,
            "replay": by_number[n].replay,
            "job_dir": by_number[n].job_dir,
        }
        for n, v, p in picked
    ]


def _bounds_sentence(b: dict | None) -> str:
    if not b or b.get("min_lr") is None:
        return ""
    esc = html.escape
    where = f" ({esc(b['source'])}: <code>{esc(b['path'])}</code>)" if b.get("path") else ""
    suggested = (
        f", first trial at the suggested {b['suggested_max_lr']:.3g}"
        if b.get("suggested_max_lr")
        else ""
    )
    rule = f" Rule: {esc(b['rule'])}." if b.get("rule") else ""
    return (
        f"<p>max_lr bounds from the LR range test{where}: {b['min_lr']:.3g} to "
        f"{b['max_lr']:.3g}{suggested}.{rule}</p>"
    )


def _levels_table(b: dict) -> str:
    """Per lr level: runs, plateau, ridge with its interval, decay timescale, or why it is dead."""

    def g(v: float | None) -> str:
        return "" if v is None else f"{v:.2g}"

    rows = []
    for lv in b.get("levels", []):
        if lv["dead"]:
            cells = [
                f"{lv['lr']:.3g}",
                f"{lv['finished']}/{lv['runs']}",
                f"dead: {lv['dead']}",
                "",
                "",
            ]
        else:
            lo, hi = lv["plateau"]
            c_lo, c_hi = lv["ridge_wd_ci"]
            tau = lv.get("timescale_epochs")
            cells = [
                f"{lv['lr']:.3g}",
                f"{lv['finished']}/{lv['runs']}",
                f"{g(lo)} .. {g(hi)}" + (" (flat)" if lv["flat"] else ""),
                f"{g(lv['ridge_wd'])} [{g(c_lo)}, {g(c_hi)}]"
                + (f" ({lv['edge']} end)" if lv["edge"] else ""),
                "" if tau is None else f"{tau:.3g}",
            ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = (
        "<tr><th>max_lr</th><th>runs finished</th><th>plateau: wd within the noise of the best</th>"
        f"<th>ridge: largest such wd [{b.get('confidence', 0.9):.0%} interval]</th>"
        "<th>decay timescale 1/(lr x wd), epochs</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _recommendation(s: dict) -> str:
    rec = s.get("recommendation")
    if not rec:
        why = s["skipped"].get("lr_wd") or "fewer than 2 finished runs with both params"
        return (
            f"<p><b>No recommendation</b>: {html.escape(why)}.</p>"
            if len(s["objectives"]) == 1
            else ""
        )
    compared = s.get("compare_with")
    return (
        "<p style='font-size:110%;background:#eef6ee;padding:8px;border:1px solid #9c9'>"
        f"<b>Recommendation</b>: {html.escape(rec['sentence'])}</p>"
        + (f"<p><b>Compared</b>: {html.escape(compared['sentence'])}.</p>" if compared else "")
    )


def _page(out: Path, s: dict, plots: list[tuple[str, go.Figure]], rs: list[Row]) -> None:
    esc = html.escape
    best_rows = "".join(
        f"<tr><td>{b['number']}</td><td>{esc(', '.join(f'{v:.4g}' for v in b['values']))}</td>"
        f"<td>{esc(', '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in b['params'].items()))}</td>"
        f"<td><code>{esc(b['replay'])}</code></td></tr>"
        for b in s["best"][:10]
    )
    counts = ", ".join(f"{n} {state}" for state, n in sorted(s["trials"].items()))
    skipped = "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in s["skipped"].items())
    balance = s.get("balance", {})
    objectives = ", ".join(f"{k} ({v}d)" for k, v in s["objectives"].items())
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>supersweep report</title>",
        "<script src='plotly.min.js'></script>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px} table{border-collapse:collapse}",
        "td,th{border:1px solid #ccc;padding:4px 8px} code{font-size:90%}</style>",
        f"</head><body><h1>{'Study' if s.get('kind', 'study') == 'study' else 'Grid'} {esc(s['study_name'])}</h1>",
        f"<p>{'Objectives' if len(s['objectives']) > 1 else 'Objective'}: {esc(objectives)}. "
        f"Trials: {esc(counts)}.</p>",
        _recommendation(s),
        _bounds_sentence(s["bounds"]),
        f"<p><b>Regularization balance</b>: {esc(balance['verdict'])}.</p>" if balance else "",
        f"<p><b>Balance design</b> stopped: {esc(s['design_stop'])}.</p>"
        if s.get("design_stop")
        else "",
        "".join(f"<p>Warning: {esc(w)}.</p>" for w in balance.get("warnings", [])),
        _levels_table(balance) if balance else "",
        "<h2>"
        + (
            "Best trials (Pareto front)"
            if len(s["objectives"]) > 1
            else "Best single run (the maximum of noisy runs"
            + (
                "; the recommendation above is read from the model of all runs)"
                if s.get("recommendation")
                else ")"
            )
        )
        + "</h2>",
        f"<table><tr><th>trial</th><th>values</th><th>params</th><th>replay</th></tr>{best_rows}</table>",
        "<p>Files: "
        + " ".join(f"<a href='{n}.html'>{n}</a>" for n in s["written"])
        + " <a href='trials.csv'>trials.csv</a></p>",
        f"<h3>Not drawn</h3><ul>{skipped}</ul>" if skipped else "",
    ]
    for name, fig in plots:
        parts.append(
            f"<h2 id='{name}'>{name}</h2>"
            + fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"plot-{name}")
        )
    parts.append("</body></html>")
    (out / "report.html").write_text("\n".join(parts))
