"""Override strings -> Optuna distributions, in hydra-optuna-sweeper's syntax.

One meaning per syntax, whatever the sampler (pinned by ``tests/test_space.py``):

==================================  =============================================
``interval(a, b)``                  float in [a, b] (also for integer a, b)
``tag(log, interval(a, b))``        float in [a, b], log scale
``int(interval(a, b))``             int in [a, b] (both ends included)
``tag(log, int(interval(a, b)))``   int in [a, b], log scale
``range(a, b[, step])``             Python's range: a, a+step, ... < b (end EXCLUDED),
                                    as an int (or stepped float) distribution
``choice(x, y, ...)`` / ``x,y,...``  categorical
``x``                               fixed value, not searched
==================================  =============================================

hydra-optuna-sweeper maps ``range(1,3)`` to {1, 2} for grid but {1, 2, 3} for TPE;
here it is {1, 2} for every sampler.
"""

from __future__ import annotations

import math
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from training.errors import UserError


class SearchSpaceError(UserError):
    """A search-space override that cannot become a distribution."""


def _distribution(o: Override) -> BaseDistribution:
    key = o.get_key_element()
    value = o.value()
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution([_plain(v) for v in value.list])
    if isinstance(value, RangeSweep):
        if value.tags:  # a range is a stepped grid: a log scale would silently be dropped
            raise SearchSpaceError(
                f"{key}: range() takes no tags (got {sorted(value.tags)}); for a log-scale int use tag(log, int(interval(a, b)))."
            )
        start, stop, step = value.start, value.stop, value.step
        if start is None or stop is None:
            raise SearchSpaceError(f"{key}: range() needs a start and a stop, got {value}.")
        if step is None or step <= 0:
            raise SearchSpaceError(f"{key}: range() needs a positive step, got {value}.")
        n = math.ceil((stop - start) / step - 1e-9)  # float noise must not admit the excluded end
        if n < 1:
            raise SearchSpaceError(
                f"{key}: range({start}, {stop}, {step}) is empty (its end is excluded)."
            )
        last = start + (n - 1) * step
        if all(isinstance(v, int) for v in (start, stop, step)):
            return IntDistribution(int(start), int(last), step=int(step))
        return FloatDistribution(float(start), float(last), step=float(step))
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        lo, hi = value.start, value.end
        if lo is None or hi is None or lo > hi:
            raise SearchSpaceError(f"{key}: interval needs low <= high, got ({lo}, {hi}).")
        if log and lo <= 0:
            raise SearchSpaceError(f"{key}: a log interval needs low > 0, got {lo}.")
        if isinstance(lo, int) and isinstance(hi, int):
            return IntDistribution(lo, hi, log=log)
        return FloatDistribution(float(lo), float(hi), log=log)
    raise SearchSpaceError(
        f"{key}: cannot search {o.input_line!r}; use interval(), range(), choice() or a comma list."
    )


def _plain(v: Any) -> Any:
    """Categorical choices must be None, bool, int, float or str."""
    return v if v is None or isinstance(v, (bool, int, float, str)) else str(v)


def parse(params: dict[str, str]) -> tuple[dict[str, BaseDistribution], dict[str, str]]:
    """``{name: override value}`` -> ``(distributions, fixed)``; fixed values stay strings."""
    space, fixed = split(_parsed([f"{k}={v}" for k, v in params.items()], "hydra.sweeper.params"))
    return space, {o.get_key_element(): o.get_value_element_as_str() for o in fixed}


def split(overrides: list[Override]) -> tuple[dict[str, BaseDistribution], list[Override]]:
    """Parsed overrides -> the searched ones as distributions, the fixed ones as they are."""
    space: dict[str, BaseDistribution] = {}
    fixed: list[Override] = []
    for o in overrides:
        if o.is_sweep_override():
            space[o.get_key_element()] = _distribution(o)
        else:
            fixed.append(o)
    return space, fixed


def _parsed(lines: list[str], where: str) -> list[Override]:
    try:
        return OverridesParser.create().parse_overrides(lines)
    except Exception as e:  # Hydra's grammar errors
        raise SearchSpaceError(f"{where}: {e}") from None


def intake(
    params: dict[str, str], arguments: list[str]
) -> tuple[dict[str, BaseDistribution], list[Override]]:
    """A sweep's params (``hydra.sweeper.params``) and command line, each parsed once, as the
    searched distributions and the fixed overrides every job gets; the command line wins."""
    given = _parsed([f"{k}={v}" for k, v in params.items()], "hydra.sweeper.params")
    command = _parsed(list(arguments), "the command line")
    mine = {o.get_key_element() for o in command}
    space, fixed = split([o for o in given if o.get_key_element() not in mine] + command)
    return space, fixed


def grid_values(space: dict[str, BaseDistribution]) -> dict[str, list]:
    """The finite value lists a grid sampler walks; intervals have none."""
    grid = {}
    for name, d in space.items():
        if isinstance(d, CategoricalDistribution):
            grid[name] = list(d.choices)
        elif isinstance(d, (IntDistribution, FloatDistribution)) and d.step is not None:
            n = round((d.high - d.low) / d.step) + 1
            grid[name] = [d.low + i * d.step for i in range(n)]
        else:
            raise SearchSpaceError(
                f"{name}: the grid sampler needs choice() or range(), not a continuous interval."
            )
    return grid


def format_value(v: Any) -> str:
    """A sampled value as an override string that parses back to the same value."""
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return (
            v
            if v.replace("_", "").replace("-", "").replace(".", "").isalnum()
            else "'" + v.replace("'", "\\'") + "'"
        )
    if v is None:
        return "null"
    return str(v).lower() if isinstance(v, bool) else str(v)
