"""Plotly figures of a study (pure: rows in, figure out)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from analysis import analyze_balance, smoothed_surface
from reports._study_data import ReportError, Row, job_metrics
from training.checks import is_finite_positive
from training.contract import FAILED_RUNS

STATE_COLORS = {"complete": "#1f77b4", "pruned": "#ff7f0e", "fail": "#d62728"}


def _hover(r: Row) -> str:
    params = "<br>".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.params.items()
    )
    return f"trial {r.number} ({r.status})<br>{params}<br>replay: {r.replay}"


def pareto_front(points: Sequence[tuple[float, float]], x_min: bool, y_max: bool) -> list[bool]:
    """Which points no other point dominates (better or equal in both, better in one)."""
    sx, sy = (1 if x_min else -1), (-1 if y_max else 1)  # turn both into "smaller is better"
    p = [(sx * x, sy * y) for x, y in points]
    return [not any(o[0] <= q[0] and o[1] <= q[1] and o != q for o in p) for q in p]


def pareto(
    rows: Sequence[Row], objectives: list[str], x: str, y: str, x_min: bool, y_max: bool
) -> go.Figure:
    usable, pts = [], []
    for r in rows:
        px, py = r.metric(x, objectives), r.metric(y, objectives)
        if r.state == "complete" and px is not None and py is not None:
            usable.append(r)
            pts.append((px, py))
    if not usable:
        raise ReportError(
            f"no complete trial has both {x!r} and {y!r}; available: objectives {objectives}, epochs, wall_s, test_acc, params."
        )
    if len({p[0] for p in pts}) < 2:
        raise ReportError(
            f"a Pareto front needs two objectives or a cost that varies; every complete trial has {x} = {pts[0][0]:g}"
        )
    front = pareto_front(pts, x_min, y_max)
    fig = go.Figure()
    for on_front, name, opacity in ((False, "dominated", 0.25), (True, "Pareto front", 1.0)):
        sel = [(p, r) for p, r, f in zip(pts, usable, front, strict=True) if f == on_front]
        if sel:
            sel.sort(key=lambda pr: pr[0][0])
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p, _ in sel],
                    y=[p[1] for p, _ in sel],
                    mode="markers+lines" if on_front else "markers",
                    name=name,
                    opacity=opacity,
                    marker={"size": 10},
                    line={"shape": "hv"},
                    hovertext=[_hover(r) for _, r in sel],
                    hoverinfo="text",
                )
            )
    fig.update_layout(
        title=f"Pareto front: {y} ({'max' if y_max else 'min'}) vs {x} ({'min' if x_min else 'max'})",
        xaxis_title=x,
        yaxis_title=y,
    )
    return fig


def balance(
    rows: Sequence[Row],
    objectives: list[str],
    metric: str,
    maximize: bool,
    lr: str,
    wd: str,
    *,
    chance: float | None = None,
    searched: dict | None = None,
    steps: float | None = None,
) -> tuple[go.Figure, dict]:
    """The regularization-balance map: the smoothed objective over (lr, wd), the runs, each live
    lr level's plateau (wd within the noise of its best) and ridge with its interval, the fitted
    balance line, iso-lines of lr x wd, dead levels, and the verdict
    (:func:`analysis.analyze_balance`) in the title. ``searched`` maps ``lr``/``wd`` to
    the ranges the study searched (edge warnings are against those)."""
    usable = [
        r
        for r in rows
        if is_finite_positive(r.params.get(lr))
        and is_finite_positive(r.params.get(wd))
        and (
            (r.state == "complete" and r.metric(metric, objectives) is not None)
            or r.status in FAILED_RUNS
        )
    ]
    if sum(r.state == "complete" for r in usable) < 2:
        raise ReportError(
            f"the LR x WD map needs complete trials that searched {lr!r} and {wd!r} (> 0); this study has {len(usable)}."
        )
    lrs, wds = [float(r.params[lr]) for r in usable], [float(r.params[wd]) for r in usable]
    values = [r.metric(metric, objectives) if r.state == "complete" else None for r in usable]
    searched = searched or {}
    result = analyze_balance(
        lrs,
        wds,
        values,
        metric=metric,
        maximize=maximize,
        chance=chance,
        wd_range=searched.get(wd),
        lr_range=searched.get(lr),
        steps_per_epoch=steps,
    )
    surface = smoothed_surface(lrs, wds, values, maximize=maximize)
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            x=surface["lr"],
            y=surface["wd"],
            z=surface["value"],
            colorscale="Viridis",
            reversescale=not maximize,
            colorbar={"title": f"{metric}<br>(smoothed)"},
            name="smoothed objective",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=lrs,
            y=wds,
            mode="markers",
            name="runs (x: diverged / collapsed)",
            hovertext=[_hover(r) for r in usable],
            hoverinfo="text",
            marker={
                "color": "white",
                "size": 6,
                "line": {"color": "black", "width": 1},
                "symbol": ["circle" if v is not None else "x" for v in values],
            },
        )
    )
    _balance_levels(fig, result)
    runs_lr = (min(lrs), max(lrs))  # the map spans the runs (a study's lr range may be far wider)
    _iso_lines(fig, runs_lr, result.wd_range)
    fig.update_xaxes(  # 1e-5, not plotly's SI "10µ" for a weight decay
        type="log",
        title=lr,
        range=[math.log10(runs_lr[0]) - 0.2, math.log10(runs_lr[1]) + 0.2],
        exponentformat="e",
    )
    fig.update_yaxes(
        type="log",
        title=wd,
        range=[math.log10(result.wd_range[0]) - 0.2, math.log10(result.wd_range[1]) + 0.2],
        exponentformat="e",
    )
    fig.update_layout(
        title={"text": f"Regularization balance ({metric})<br><sub>{_wrap(result.verdict)}</sub>"},
        legend={"orientation": "h", "y": -0.2},
        margin={"t": 140},
    )
    return fig, result.as_dict()


def _wrap(text: str, width: int = 110) -> str:
    """A long verdict over several title lines (Plotly does not wrap titles)."""
    import textwrap

    return "<br>".join(textwrap.wrap(text, width))


def _balance_levels(fig: go.Figure, result) -> None:
    """Plateaus (grey bars), ridges with intervals (red), the balance line, dead levels."""
    live = [v for v in result.levels if v.ridge_wd is not None]
    for i, v in enumerate(live):
        fig.add_trace(
            go.Scatter(
                x=[v.lr, v.lr],
                y=list(v.plateau),
                mode="lines",
                # white on the map, with a grey edge so that the legend's swatch shows too
                line={"color": "rgba(255,255,255,0.75)", "width": 8},
                marker={"color": "rgba(255,255,255,0.75)", "line": {"color": "#666", "width": 1}},
                name="plateau (white bar): wd within the noise of the level's best",
                legendgroup="plateau",
                showlegend=i == 0,
                hoverinfo="text",
                hovertext=f"max_lr {v.lr:.3g}: wd {v.plateau[0]:.2g} .. {v.plateau[1]:.2g} within noise of the best",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[v.lr for v in live],
            y=[v.ridge_wd for v in live],
            mode="markers",
            name=f"ridge: largest wd as good as the best ({result.confidence:.0%} interval)",
            marker={"color": "red", "size": 9},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [v.ridge_wd_ci[1] - v.ridge_wd for v in live],
                "arrayminus": [v.ridge_wd - v.ridge_wd_ci[0] for v in live],
            },
        )
    )
    fit = [v for v in live if any(math.isclose(v.lr, x) for x in result.slope_levels)]
    if result.slope is not None and fit:
        x = np.log10([v.lr for v in fit])
        y = np.log10([v.ridge_wd for v in fit])
        line = y.mean() + result.slope * (x - x.mean())
        fig.add_trace(
            go.Scatter(
                x=10**x,
                y=10**line,
                mode="lines",
                name=f"balance line, slope {result.slope:+.2f}",
                line={"color": "red", "dash": "dash"},
            )
        )
    dead = [v for v in result.levels if v.dead]
    if dead:
        fig.add_trace(
            go.Scatter(
                x=[v.lr for v in dead],
                y=[math.sqrt(result.wd_range[0] * result.wd_range[1])] * len(dead),
                mode="markers+text",
                text=["dead"] * len(dead),
                textposition="top center",
                marker={"color": "black", "symbol": "x-thin-open", "size": 14},
                name="dead lr level (left out: " + "; ".join(sorted({v.dead for v in dead})) + ")",
                hovertext=[f"max_lr {v.lr:.3g}: {v.dead}" for v in dead],
                hoverinfo="text",
            )
        )


def _iso_lines(
    fig: go.Figure, lr_range: tuple[float, float], wd_range: tuple[float, float]
) -> None:
    """Dotted lines of constant lr x wd (slope -1 on log axes) at every decade crossing the map."""
    lo, hi = math.log10(lr_range[0] * wd_range[0]), math.log10(lr_range[1] * wd_range[1])
    for e in range(math.ceil(lo), math.floor(hi) + 1):
        fig.add_trace(
            go.Scatter(
                x=list(lr_range),
                y=[10**e / lr_range[0], 10**e / lr_range[1]],
                mode="lines",
                line={"color": "#888", "dash": "dot", "width": 1},
                name="lr x wd = const",
                legendgroup="iso",
                showlegend=e == math.ceil(lo),
                hoverinfo="text",
                hovertext=f"lr x wd = 1e{e}",
            )
        )


def curves(rows: Sequence[Row], color_by: str) -> go.Figure:
    """Validation accuracy per epoch, one line per run coloured by ``color_by`` (log10 of it,
    with a colour bar); the status is in the line style (completed solid, pruned dotted with
    an x where it stopped, diverged or collapsed dashed grey), with one legend entry per style."""
    drawn = [r for r in rows if r.curve]
    values = [r.params.get(color_by) for r in drawn]
    logs = [math.log10(float(v)) if is_finite_positive(v) else None for v in values]  # type: ignore[arg-type]
    known = [v for v in logs if v is not None]
    lo, hi = (min(known), max(known)) if known else (0.0, 1.0)
    scale = "Viridis"
    colors = sample_colors(
        scale, [0.5 if lv is None or hi <= lo else (lv - lo) / (hi - lo) for lv in logs]
    )
    fig = go.Figure()
    seen: set[str] = set()
    for r, lv, scaled in zip(drawn, logs, colors, strict=True):
        ep, acc = zip(*r.curve, strict=True)
        failed = r.status in FAILED_RUNS
        style = "diverged / collapsed" if failed else "pruned" if r.state == "pruned" else r.status
        color = "#999999" if failed or lv is None else scaled
        fig.add_trace(
            go.Scatter(
                x=ep,
                y=acc,
                mode="lines",
                name=style,
                legendgroup=style,
                showlegend=style not in seen,
                line={
                    "color": color,
                    "dash": "dash" if failed else "dot" if r.state == "pruned" else "solid",
                },
                opacity=0.8,
                hovertext=_hover(r),
                hoverinfo="text+y",
            )
        )
        seen.add(style)
        if r.state == "pruned" and not failed:
            fig.add_trace(
                go.Scatter(
                    x=[ep[-1]],
                    y=[acc[-1]],
                    mode="markers",
                    marker={"symbol": "x", "size": 9, "color": color},
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
    if known:  # the colour bar: an invisible marker trace carrying the scale
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                showlegend=False,
                marker={
                    "colorscale": scale,
                    "cmin": lo,
                    "cmax": hi,
                    "color": [lo],
                    "showscale": True,
                    "colorbar": {"title": f"log10 {color_by}"},
                },
            )
        )
    fig.update_layout(
        title=f"Validation accuracy per epoch, coloured by {color_by}",
        xaxis_title="epoch",
        yaxis_title="val_acc",
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def sample_colors(scale: str, ts: Sequence[float]) -> list[str]:
    """Colours of a plotly scale at ``ts`` in [0, 1], in one call (one call per run is slow)."""
    import plotly.colors

    return plotly.colors.sample_colorscale(scale, [min(max(t, 0.0), 1.0) for t in ts]) if ts else []


def lr_estimate(
    rows: Sequence[Row], objectives: list[str], maximize: bool, bounds: dict, top: int = 5
) -> go.Figure:
    """Smith & Topin's Hessian-free lr estimate per epoch against the schedule's lr, for the
    best runs that logged it (``lr_estimate=true``), with the range test's bounds when known."""
    logged = []
    for r in rows:
        metrics = job_metrics(r.job_dir) if r.state == "complete" else None
        if metrics and any(m.get("lr_estimate") is not None for m in metrics):
            logged.append((r, metrics))
    if not logged:
        raise ReportError("no complete trial logged lr_estimate (train with lr_estimate=true)")
    sign = 1 if maximize else -1
    logged.sort(key=lambda rm: -sign * (rm[0].metric(objectives[0], objectives) or 0.0))
    fig = go.Figure()
    palette = go.Figure().layout.template.layout.colorway or [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
    ]
    for i, (r, metrics) in enumerate(logged[:top]):
        color = palette[i % len(palette)]
        epochs = [m["epoch"] for m in metrics]
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=[m.get("lr_estimate") for m in metrics],
                mode="lines+markers",
                name=f"#{r.number} estimate",
                line={"color": color},
                hovertext=_hover(r),
                hoverinfo="text+y",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=[m["lr"] for m in metrics],
                mode="lines",
                name=f"#{r.number} schedule lr",
                line={"color": color, "dash": "dot"},
            )
        )
    for key, label in (("min_lr", "range test min_lr"), ("max_lr", "range test max_lr")):
        if bounds.get(key):
            fig.add_hline(
                y=bounds[key], line={"color": "#888", "dash": "dash"}, annotation_text=label
            )
    fig.update_yaxes(type="log", title="learning rate")
    fig.update_layout(
        title="Hessian-free lr estimate (Smith & Topin) vs the schedule's lr, per epoch",
        xaxis_title="epoch",
    )
    return fig
