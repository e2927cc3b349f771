"""A study's answer in its report: the recommendation from the model of its runs (the same
``sweeper._recommend.study_surface`` the sweep ended with) and, with ``compare_with``, another
study's pick judged by that model: the predicted difference with its uncertainty."""

from __future__ import annotations

import optuna

from analysis.recommend import compare, recommend
from sweeper import design_undecided, study_surface
from sweeper.record import TrialKey


def study_answer(
    study: optuna.Study,
    lr: str,
    wd: str,
    metric: str,
    maximize: bool,
    other: optuna.Study | None = None,
) -> tuple[dict | None, dict | None]:
    """(the recommendation, the comparison with ``other``'s pick); None where there is none."""
    s = study_surface(study, lr, wd, metric, maximize)
    if s is None:
        return None, None
    rec = recommend(s, stopped=design_undecided(study), keys=(lr, wd)).as_dict()
    return rec, (None if other is None else _compared(s, rec, other, lr, wd))


def _compared(s, rec: dict, other: optuna.Study, lr: str, wd: str) -> dict:
    """The other study's answer (its own recommendation, or its best single run when it has no
    model) judged by this study's model."""
    name = other.study_name
    metric = rec["metric"]
    theirs = study_surface(other, lr, wd, metric, s.maximize)
    if theirs is not None:
        r = recommend(theirs)
        what, x, w = "recommendation", r.max_lr, r.wd
    else:
        try:
            best = other.best_trial
        except ValueError:
            return {"study": name, "sentence": f"nothing to compare: {name} has no completed trial"}
        params = {**best.params, **(best.user_attrs.get(TrialKey.DERIVED_PARAMS) or {})}
        if lr not in params or wd not in params:
            return {"study": name, "sentence": f"nothing to compare: no {lr} and {wd} in {name}"}
        what, x, w = "best single run", float(params[lr]), float(params[wd])
    c = compare(s, rec, x, w)
    return {
        "study": name,
        "what": what,
        **c,
        "sentence": compare_sentence(name, what, c, rec, lr, wd),
    }


def compare_sentence(name: str, what: str, c: dict, rec: dict, lr: str, wd: str) -> str:
    """One answer or two, in the words the console, the page and report.json share."""
    point = f"{name}'s {what} ({lr}={c['max_lr']:.3g}, {wd}={c['wd']:.2g})"
    where = "inside" if c["inside_band"] else "outside"
    side = "below" if c["difference"] >= 0 else "above"
    diff = f"predicted {abs(c['difference']):.4f} +- {c['difference_sd']:.4f} {side} this recommendation"
    if c["difference"] <= rec["tolerance"]:
        return (
            f"one answer: {point} is as good as this recommendation by this study's model "
            f"({diff}, within the tolerance {rec['tolerance']:.3g}; {where} the band)"
        )
    if c["as_good"]:
        return (
            f"one answer as far as these runs resolve: {point} is {diff}: more than the tolerance "
            f"{rec['tolerance']:.3g}, within 2 sd of the difference ({where} the band)"
        )
    return (
        f"two answers: this recommendation is better than {point} by this study's model "
        f"({diff}, beyond the tolerance {rec['tolerance']:.3g} and 2 sd; {where} the band): use the recommendation"
    )
