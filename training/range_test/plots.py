"""Range-test figures written as self-contained Plotly HTML (they open offline).

Plotly is imported inside each function: training runs never pay for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

SUGGESTION_COLORS = {
    "valley": "#d62728",
    "steep": "#2ca02c",
    "minimum": "#9467bd",
    "slide": "#8c564b",
}


def _write(fig, path: Path) -> None:
    fig.write_html(path, include_plotlyjs=True, full_html=True)


def _loss_axis_range(smoothed: Sequence[float | None]) -> list[float] | None:
    """Clip the y axis near the start and the best of the curve, so a divergent tail does not flatten it."""
    finite = [v for v in smoothed if v is not None and v == v]
    if not finite:
        return None
    lo, hi = min(finite), finite[0]
    pad = 0.1 * max(hi - lo, 1e-8)
    return [lo - pad, max(hi, lo) * 1.5 + pad]


def range_test_html(result: dict, path: Path) -> None:
    """Raw and smoothed loss against lr (log axis), suggestions, bounds and divergence marked."""
    import plotly.graph_objects as go

    fig = go.Figure()
    lrs = result["lrs"]
    fig.add_trace(
        go.Scatter(
            x=lrs,
            y=result["losses"],
            name="loss",
            mode="lines",
            line={"color": "#bbbbbb", "width": 1},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=lrs,
            y=result["smoothed_losses"],
            name="smoothed loss",
            mode="lines",
            line={"color": "#1f77b4", "width": 2},
        )
    )
    b = result["bounds"]
    if b["min_lr"] is not None:
        fig.add_vrect(
            x0=b["min_lr"],
            x1=b["max_lr"],
            fillcolor="#ffdd57",
            opacity=0.25,
            line_width=0,
            annotation_text="search bounds",
            annotation_position="top left",
        )
    for name, lr in result["suggestions"].items():
        if lr is not None:
            fig.add_vline(
                x=lr,
                line={"color": SUGGESTION_COLORS.get(name, "#333"), "dash": "dash"},
                annotation_text=f"{name} {lr:.2e}",
                annotation_textangle=-90,
            )
    if result["diverged_at"] is not None:
        fig.add_vline(
            x=result["diverged_at"],
            line={"color": "black", "dash": "dot"},
            annotation_text="stopped",
            annotation_position="bottom right",
        )
    fig.update_xaxes(type="log", title="learning rate")
    fig.update_yaxes(title="training loss", range=_loss_axis_range(result["smoothed_losses"]))
    fig.update_layout(
        title=f"LR range test: {result['iterations']} iterations, {result['stop_reason']}"
    )
    _write(fig, path)


def overlay_html(tests: Sequence[dict], recommendation: dict, path: Path) -> None:
    """One smoothed curve per weight decay, each with its max_lr bound marked."""
    import plotly.colors
    import plotly.graph_objects as go

    fig = go.Figure()
    palette = plotly.colors.qualitative.Plotly
    for i, t in enumerate(tests):
        color = palette[i % len(palette)]
        fig.add_trace(
            go.Scatter(
                x=t["lrs"],
                y=t["smoothed_losses"],
                name=f"wd={t['wd']:g}",
                mode="lines",
                line={"color": color},
            )
        )
        if t["bounds"]["max_lr"] is not None:
            fig.add_trace(
                go.Scatter(
                    x=[t["bounds"]["max_lr"]],
                    y=[t["min_smoothed_loss"]],
                    mode="markers",
                    marker={"color": color, "size": 10},
                    name=f"wd={t['wd']:g} max_lr {t['bounds']['max_lr']:.2e}",
                    showlegend=False,
                )
            )
    fig.update_xaxes(type="log", title="learning rate")
    all_smoothed = [v for t in tests for v in t["smoothed_losses"]]
    fig.update_yaxes(title="smoothed training loss", range=_loss_axis_range(all_smoothed))
    rec = recommendation
    title = (
        f"LR range tests by weight decay - recommended max_lr={rec['max_lr']:.3g}, wd={rec['wd']:g}"
        if rec["wd"] is not None
        else "LR range tests"
    )
    fig.update_layout(title=title)
    _write(fig, path)
