"""Plotly figures of a study (pure: rows in, figure out)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from scipy.stats import spearmanr

from reports._study_data import ReportError, Row

STATE_COLORS = {"complete": "#1f77b4", "pruned": "#ff7f0e", "fail": "#d62728"}


def _hover(r: Row) -> str:
    params = "<br>".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.params.items())
    return f"trial {r.number} ({r.status})<br>{params}<br>replay: {r.replay}"


def pareto_front(points: Sequence[tuple[float, float]], x_min: bool, y_max: bool) -> list[bool]:
    """Which points no other point dominates (better or equal in both, better in one)."""
    sx, sy = (1 if x_min else -1), (-1 if y_max else 1)  # turn both into "smaller is better"
    p = [(sx * x, sy * y) for x, y in points]
    return [not any(o[0] <= q[0] and o[1] <= q[1] and o != q for o in p) for q in p]


def pareto(rows: Sequence[Row], objectives: list[str], x: str, y: str, x_min: bool, y_max: bool) -> go.Figure:
    usable, pts = [], []
    for r in rows:
        px, py = r.metric(x, objectives), r.metric(y, objectives)
        if r.state == "complete" and px is not None and py is not None:
            usable.append(r)
            pts.append((px, py))
    if not usable:
        raise ReportError(f"no complete trial has both {x!r} and {y!r}; available: objectives {objectives}, epochs, wall_s, test_acc, params.")
    front = pareto_front(pts, x_min, y_max)
    fig = go.Figure()
    for on_front, name, opacity in ((False, "dominated", 0.25), (True, "Pareto front", 1.0)):
        sel = [(p, r) for p, r, f in zip(pts, usable, front, strict=True) if f == on_front]
        if sel:
            sel.sort(key=lambda pr: pr[0][0])
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p, _ in sel], y=[p[1] for p, _ in sel], mode="markers+lines" if on_front else "markers", name=name,
                    opacity=opacity, marker={"size": 10}, line={"shape": "hv"}, hovertext=[_hover(r) for _, r in sel], hoverinfo="text",
                )
            )  # fmt: skip
    fig.update_layout(title=f"Pareto front: {y} ({'max' if y_max else 'min'}) vs {x} ({'min' if x_min else 'max'})", xaxis_title=x, yaxis_title=y)
    return fig


def balance(rows: Sequence[Row], objectives: list[str], metric: str, maximize: bool, lr: str, wd: str, bins: int = 8) -> tuple[go.Figure, dict]:
    """The regularization-balance map: best metric per (lr, wd) cell, and the best wd per lr."""
    usable = [r for r in rows if r.state == "complete" and r.params.get(lr, 0) > 0 and r.params.get(wd, 0) > 0 and r.metric(metric, objectives) is not None]
    if len(usable) < 2:
        raise ReportError(f"the LR x WD map needs complete trials that searched {lr!r} and {wd!r} (> 0); this study has {len(usable)}.")
    llr = np.log10([r.params[lr] for r in usable])
    lwd = np.log10([r.params[wd] for r in usable])
    val = np.array([r.metric(metric, objectives) for r in usable])
    edges_lr = np.linspace(llr.min(), llr.max() + 1e-9, bins + 1)
    edges_wd = np.linspace(lwd.min(), lwd.max() + 1e-9, bins + 1)
    i_lr = np.clip(np.digitize(llr, edges_lr) - 1, 0, bins - 1)
    i_wd = np.clip(np.digitize(lwd, edges_wd) - 1, 0, bins - 1)
    grid = np.full((bins, bins), np.nan)
    pick = max if maximize else min
    for a, b, v in zip(i_lr, i_wd, val, strict=True):
        grid[b, a] = v if math.isnan(grid[b, a]) else pick(grid[b, a], v)
    # balance curve: in each lr column, the wd of the best trial there
    curve_lr, curve_wd = [], []
    for col in range(bins):
        members = [k for k in range(len(usable)) if i_lr[k] == col]
        if members:
            best = (max if maximize else min)(members, key=lambda k: val[k])
            curve_lr.append(llr[best])
            curve_wd.append(lwd[best])
    rho = float(spearmanr(curve_lr, curve_wd).statistic) if len(curve_lr) >= 3 and len(set(curve_wd)) > 1 else None
    centers_lr = 10 ** ((edges_lr[:-1] + edges_lr[1:]) / 2)
    centers_wd = 10 ** ((edges_wd[:-1] + edges_wd[1:]) / 2)
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(x=centers_lr, y=centers_wd, z=grid, colorscale="Viridis", reversescale=not maximize, colorbar={"title": metric}, name="best per cell")
    )
    fig.add_trace(
        go.Scatter(
            x=10 ** llr, y=10 ** lwd, mode="markers", name="trials", marker={"color": "white", "size": 6, "line": {"color": "black", "width": 1}},
            hovertext=[_hover(r) for r in usable], hoverinfo="text",
        )
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=10 ** np.array(curve_lr), y=10 ** np.array(curve_wd), mode="lines+markers", name="best wd per lr", line={"color": "red", "width": 3})
    )
    trend = (
        "n/a (too few lr bins)"
        if rho is None
        else f"{rho:+.2f}" + (" (larger lr -> smaller wd)" if rho < 0 else " (larger lr -> larger wd)" if rho > 0 else "")
    )
    fig.update_xaxes(type="log", title=lr)
    fig.update_yaxes(type="log", title=wd)
    fig.update_layout(
        title=f"Regularization balance: best {metric} per (lr, wd); Spearman(lr, best wd) = {trend}",
        legend={"orientation": "h", "y": -0.18},
    )
    return fig, {"spearman_lr_best_wd": rho, "balance_curve": [{"lr": 10**a, "wd": 10**b} for a, b in zip(curve_lr, curve_wd, strict=True)]}


def curves(rows: Sequence[Row]) -> go.Figure:
    fig = go.Figure()
    for r in rows:
        if not r.curve:
            continue
        ep, acc = zip(*r.curve, strict=True)
        fig.add_trace(
            go.Scatter(
                x=ep, y=acc, mode="lines", name=f"#{r.number} {r.status}",
                line={"color": STATE_COLORS.get(r.state, "#7f7f7f"), "dash": "dot" if r.state == "pruned" else "solid"},
                opacity=0.8, hovertext=_hover(r), hoverinfo="text+y",
            )
        )  # fmt: skip
        if r.state == "pruned":
            fig.add_trace(
                go.Scatter(x=[ep[-1]], y=[acc[-1]], mode="markers", marker={"symbol": "x", "size": 10, "color": "#ff7f0e"}, showlegend=False, hoverinfo="skip")
            )
    fig.update_layout(title="Validation accuracy per epoch (dotted + x: pruned)", xaxis_title="epoch", yaxis_title="val_acc")
    return fig
