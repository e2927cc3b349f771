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


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and v == v and abs(v) != float("inf")]


def _vertical(go, x: float, span: tuple[float, float], name: str, line: dict, hover: str):
    """A vertical line as a trace: in the legend, at its lr on the log axis (a shape's
    annotation on a log axis takes log10 x, which put labels near lr 1 whatever their value)."""
    return go.Scatter(
        x=[x, x],
        y=list(span),
        mode="lines",
        name=name,
        line=line,
        hovertext=hover,
        hoverinfo="text",
    )


def range_test_html(result: dict, path: Path) -> None:
    _write(range_test_figure(result), path)


def range_test_figure(result: dict, searched: tuple[float, float] | None = None):
    """Raw and smoothed loss against lr (log axis), the whole curve in view; the suggestions,
    the suggested max_lr (the first trial of a search), the bounds, the range a search drew
    from (``searched``: the bounds widened by its margin) and where the test stopped, each in
    the legend at its lr."""
    import plotly.graph_objects as go

    fig = go.Figure()
    lrs = result["lrs"]
    seen = _finite(result["losses"]) + _finite(result["smoothed_losses"])
    seen = [v for v in seen if v > 0] or seen
    span = (min(seen), max(seen)) if seen else (0.0, 1.0)
    b = result["bounds"]
    if b["min_lr"] is not None:
        fig.add_trace(
            go.Scatter(
                x=[b["min_lr"], b["max_lr"], b["max_lr"], b["min_lr"], b["min_lr"]],
                y=[span[0], span[0], span[1], span[1], span[0]],
                fill="toself",
                fillcolor="rgba(255,221,87,0.3)",
                line={"width": 0},
                mode="lines",
                name=f"search bounds {b['min_lr']:.3g} .. {b['max_lr']:.3g}",
                hoverinfo="name",
            )
        )
    if (
        searched is not None
        and b["min_lr"] is not None
        and tuple(searched) != (b["min_lr"], b["max_lr"])
    ):
        lo, hi = searched
        fig.add_trace(
            go.Scatter(
                x=[lo, hi, hi, lo, lo],
                y=[span[0], span[0], span[1], span[1], span[0]],
                fill="toself",
                fillcolor="rgba(255,221,87,0.12)",
                line={"width": 1, "color": "rgba(200,160,0,0.6)", "dash": "dot"},
                mode="lines",
                name=f"searched {lo:.3g} .. {hi:.3g} (bounds widened by the sweep's margin)",
                hoverinfo="name",
            )
        )
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
    for name, lr in result["suggestions"].items():
        if lr is not None:
            line = {"color": SUGGESTION_COLORS.get(name, "#333"), "dash": "dash"}
            fig.add_trace(_vertical(go, lr, span, f"{name} {lr:.3g}", line, f"{name}: lr {lr:.3g}"))
    suggested = result.get("suggested_max_lr")
    if suggested is not None:  # what a search tries first and the console calls "suggested"
        bold: dict = {"color": "black", "width": 3}
        label = f"suggested max_lr {suggested:.3g}"
        fig.add_trace(_vertical(go, suggested, span, label, bold, "suggested max_lr"))
    if result["diverged_at"] is not None:
        lr = result["diverged_at"]
        line = {"color": "black", "dash": "dot"}
        fig.add_trace(_vertical(go, lr, span, f"stopped at {lr:.3g}", line, result["stop_reason"]))
    fig.update_xaxes(type="log", title="learning rate")
    # log scale: the divergent tail (tens of times the start) stays in view without flattening the rest
    fig.update_yaxes(title="training loss", type="log" if seen and min(seen) > 0 else "linear")
    fig.update_layout(
        title=f"LR range test: {result['iterations']} iterations, {result['stop_reason']}"
    )
    return fig


def _loss_axis_range(smoothed: Sequence[float | None]) -> list[float] | None:
    """Clip the overlay's y axis near the start and the best of the curves, so one divergent
    tail does not flatten the others."""
    finite = _finite(smoothed)
    if not finite:
        return None
    lo, hi = min(finite), finite[0]
    pad = 0.1 * max(hi - lo, 1e-8)
    return [lo - pad, max(hi, lo) * 1.5 + pad]


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
        f"LR range tests by weight decay - wd={rec['wd']:g}, suggested max_lr={rec['suggested_max_lr']:.3g}"
        f" (bounds {rec['bounds']['min_lr']:.3g} .. {rec['bounds']['max_lr']:.3g})"
        if rec["wd"] is not None
        else "LR range tests"
    )
    fig.update_layout(title=title)
    _write(fig, path)
