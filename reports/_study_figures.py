"""History, importance and parallel-coordinate figures of an Optuna study, drawn with plotly.

They show what ``optuna.visualization`` shows (its names and layout), made here so that a report
never imports that package: it loads matplotlib, and ``optuna.importance`` scikit-learn, for
over a second of start-up (BENCHMARKS.md, "Report"). With several objectives each figure is of
the first; every figure draws the best as best (the darkest line, the running best).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import optuna
import plotly.graph_objects as go
from optuna.distributions import CategoricalDistribution

from analysis import Param, ped_anova

Trials = Sequence[optuna.trial.FrozenTrial]


def complete_trials(trials: Trials) -> list[optuna.trial.FrozenTrial]:
    return [
        t
        for t in trials
        if t.state == optuna.trial.TrialState.COMPLETE
        and t.values is not None
        and math.isfinite(t.values[0])
    ]


def _searched(trials: Trials) -> dict:
    """Params every trial has, with their distribution (an adaptive design adds none later)."""
    names = set.intersection(*(set(t.distributions) for t in trials)) if trials else set()
    return {n: trials[-1].distributions[n] for n in sorted(names)}


def history(all_trials: Trials, objective: str, maximize: bool) -> go.Figure:
    trials = complete_trials(all_trials)
    x = [t.number for t in trials]
    y = [t.values[0] for t in trials]
    best = list(np.maximum.accumulate(y) if maximize else np.minimum.accumulate(y))
    fig = go.Figure(
        [
            go.Scatter(x=x, y=y, mode="markers", name=objective),
            go.Scatter(x=x, y=best, mode="lines", name="Best Value", line={"shape": "hv"}),
        ]
    )
    fig.update_layout(title="Optimization History Plot", xaxis_title="Trial", yaxis_title=objective)
    return fig


def importance(all_trials: Trials, objective: str, maximize: bool) -> go.Figure:
    trials = complete_trials(all_trials)
    params = {}
    for name, d in _searched(trials).items():
        values = [t.params[name] for t in trials]
        if isinstance(d, CategoricalDistribution):
            params[name] = Param(values, choices=d.choices)
        else:
            params[name] = Param(values, log=bool(getattr(d, "log", False)))
    if not params:
        raise ValueError("no param was searched in every complete trial")
    scores = ped_anova(params, [(-1 if maximize else 1) * t.values[0] for t in trials])
    names = list(scores)[::-1]  # the most important on top
    fig = go.Figure(
        go.Bar(
            x=[scores[n] for n in names],
            y=names,
            orientation="h",
            text=[f"{scores[n]:.2f}" for n in names],
            textposition="outside",
        )
    )
    top = names[-1]
    note = (
        "PED-ANOVA: how differently each param is spread in the top 10% than in all trials. "
        "optuna-dashboard shows fANOVA (variance explained by a random forest), which can rank "
        "the same study's params otherwise."
    )
    if top in ("seed", "split_seed") or top.endswith(".seed"):
        note += f" {top} ranks first: the run-to-run noise is as large as what the other params do."
    fig.update_layout(
        title={
            "text": f"Hyperparameter Importances (PED-ANOVA, top 10% of {objective} vs all)"
            f"<br><sub>{_wrap(note)}</sub>"
        },
        xaxis_title=f"Importance for {objective}",
        yaxis_title="Hyperparameter",
        margin={"t": 130},
    )
    return fig


def _wrap(text: str, width: int = 120) -> str:
    import textwrap

    return "<br>".join(textwrap.wrap(text, width))


def parallel(all_trials: Trials, objective: str, maximize: bool) -> go.Figure:
    trials = complete_trials(all_trials)
    searched = _searched(trials)
    if not searched:
        raise ValueError("no param was searched in every complete trial")
    values = [t.values[0] for t in trials]
    dims = [{"label": objective, "values": values, "range": [min(values), max(values)]}]
    for name, d in searched.items():
        dims.append(_dimension(name, d, [t.params[name] for t in trials]))
    fig = go.Figure(
        go.Parcoords(
            dimensions=dims,
            line={
                "color": values,
                "colorscale": "Blues",
                "reversescale": not maximize,  # the best trials the darkest
                "showscale": True,
                "colorbar": {"title": {"text": objective}},
            },
        )
    )
    fig.update_layout(title="Parallel Coordinate Plot")
    return fig


def _dimension(name: str, d: object, raw: list) -> dict:
    """A parcoords axis over the values the trials took (an adaptive design's space is far wider):
    a log param in log10 with its values as tick labels, a categorical by index."""
    if isinstance(d, CategoricalDistribution):
        labels = [f"{c:.3g}" if isinstance(c, float) else str(c) for c in d.choices]
        return {
            "label": name,
            "values": [d.choices.index(v) for v in raw],
            "tickvals": list(range(len(labels))),
            "ticktext": labels,
            "range": [0, max(len(labels) - 1, 1)],
        }
    log = bool(getattr(d, "log", False))
    values = [math.log10(v) for v in raw] if log else list(raw)
    lo, hi = min(values), max(values)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    dim = {"label": f"{name} (log)" if log else name, "values": values, "range": [lo, hi]}
    if log:
        ticks = list(np.linspace(lo, hi, 5))
        dim |= {"tickvals": ticks, "ticktext": [f"{10**t:.3g}" for t in ticks]}
    return dim
