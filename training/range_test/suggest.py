"""Learning-rate suggestions from a range-test curve, and search bounds.

Each rule is a pure function ``(lrs, losses) -> lr | None`` over a curve that
:func:`trim` has prepared exactly as fastai's ``lr_find`` does before calling its
``valley``, ``slide``, ``minimum`` and ``steep``: drop the first ``num_iter // 10``
points and the last 5, then cut at the first NaN. On the same recorded curve
the rules give fastai's lr. ``None`` means the curve is too short for the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Rule = Callable[[np.ndarray, np.ndarray], "float | None"]

__all__ = ["RULES", "analyze", "minimum", "slide", "steep", "suggested_max_lr", "trim", "valley"]


def trim(
    lrs: Sequence[float], losses: Sequence[float], num_iter: int
) -> tuple[np.ndarray, np.ndarray]:
    """fastai's preparation: ``[num_iter // 10 : -5]``, then cut at the first NaN."""
    lrs_a = np.asarray(lrs, dtype=np.float64)[num_iter // 10 : -5]
    loss_a = np.asarray(losses, dtype=np.float64)[num_iter // 10 : -5]
    bad = np.flatnonzero(~np.isfinite(loss_a))
    if bad.size:
        lrs_a, loss_a = lrs_a[: bad[0]], loss_a[: bad[0]]
    return lrs_a, loss_a


def valley(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """Halfway down the longest decreasing run of losses (fastai's default rule, from ESRI).

    "Run" is a longest decreasing subsequence ending at each point; the pick is
    ``start + int(len/3) + int(len/6)`` as fastai computes it.
    """
    n = len(losses)
    if n == 0:
        return None
    run = [1] * n  # longest decreasing subsequence ending at i
    start = end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and run[i] < run[j] + 1:
                run[i] = run[j] + 1
            if run[end] < run[i]:
                end, start = i, i - run[i]
    third = (end - start) / 3
    return float(lrs[start + int(third) + int(third / 2)])


def slide(
    lrs: np.ndarray, losses: np.ndarray, lr_diff: int = 15, thresh: float = 0.005
) -> float | None:
    """Interval slide rule (Andrew Chang): walk left from the end until the loss
    gradient ``lr_diff`` points apart differs by at most ``thresh``."""
    if len(losses) <= lr_diff:
        return None
    grad = np.gradient(losses)
    right, left = -1, -1 - lr_diff
    pick = lrs[left]
    while left >= -len(losses) and abs(grad[right] - grad[left]) > thresh:
        pick = lrs[left]
        right, left = right - 1, left - 1
    return float(pick)


def minimum(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """One tenth of the lr at the lowest loss."""
    if len(losses) == 0:
        return None
    return float(lrs[int(np.argmin(losses))]) / 10


def steep(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """The lr where the loss falls fastest per unit of log lr."""
    if len(losses) < 2:
        return None
    grads = (losses[1:] - losses[:-1]) / (np.log(lrs[1:]) - np.log(lrs[:-1]))
    return float(lrs[int(np.argmin(grads))])


RULES: dict[str, Rule] = {"valley": valley, "steep": steep, "minimum": minimum, "slide": slide}


BOUNDS_RULE = (
    "max_lr = the lr at the lowest smoothed loss of the trimmed curve (Smith: where the loss stops falling); "
    "min_lr = max_lr / 10 (fastai's minimum suggestion): a one-cycle peak belongs between the two"
)


def analyze(
    lrs: Sequence[float], losses: Sequence[float], num_iter: int
) -> tuple[dict[str, float | None], dict, str | None]:
    """Every rule on the trimmed curve, the search bounds, and a message when the curve is unusable.

    Returns:
        ``(suggestions, bounds, message)``; ``bounds`` has ``min_lr``, ``max_lr``
        (log-scale interval for a max_lr search, or ``None``) and ``rule``.
    """
    t_lrs, t_losses = trim(lrs, losses, num_iter)
    suggestions = {name: rule(t_lrs, t_losses) for name, rule in RULES.items()}
    message = None
    if len(t_losses) < 2:
        message = (
            f"range-test curve too short for suggestions: {len(t_losses)} usable points of {len(losses)} recorded "
            f"(the first num_iter//10 = {num_iter // 10} and last 5 are dropped, and everything from the first NaN); "
            "raise num_iter or lower start_lr"
        )
        return dict.fromkeys(RULES), {"min_lr": None, "max_lr": None, "rule": BOUNDS_RULE}, message
    hi = float(t_lrs[int(np.argmin(t_losses))])
    return suggestions, {"min_lr": hi / 10, "max_lr": hi, "rule": BOUNDS_RULE}, message


def suggested_max_lr(bounds: dict) -> float | None:
    """The one-cycle peak to try first: the middle of the bounds on a log scale."""
    if bounds.get("min_lr") is None or bounds.get("max_lr") is None:
        return None
    return float((bounds["min_lr"] * bounds["max_lr"]) ** 0.5)
