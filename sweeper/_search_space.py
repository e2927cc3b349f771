"""What a sweep searches, as one strategy object: the distributions the study draws from and the
params a job trains with (which may be derived from the drawn ones).

- plain: the params as parsed (``interval(...)``, ``choice(...)``, ...);
- seeded: the lr key drawn from a range test's bounds (an interval) or at lr levels around its
  max_lr bound (a categorical the grid sampler can walk);
- product: a searched ``lr_x_wd`` the job turns into ``wd = lr_x_wd / lr``, so a sampler searches
  along the balance diagonal instead of discovering it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from optuna.distributions import (
    BaseDistribution,
)

from sweeper._errors import SweepError
from sweeper._keys import SweepKeys
from sweeper._seeding import Bounds
from sweeper._space import grid_values


@dataclass(frozen=True)
class Product:
    """``wd = name / lr`` for every job; the study keeps ``name``."""

    name: str
    lr: str
    wd: str

    def derive(self, params: dict[str, Any]) -> dict[str, Any]:
        return {self.wd: params[self.name] / params[self.lr]}


@dataclass(frozen=True)
class SearchSpace:
    distributions: dict[str, BaseDistribution]
    product: Product | None = None

    @classmethod
    def build(
        cls,
        distributions: dict[str, BaseDistribution],
        *,
        keys: SweepKeys,
        bounds: Bounds | None,
        lr_levels: list[float],
        product_param: str | None,
        fixed_keys: set[str],
        bounds_margin: float = 0.0,
    ) -> SearchSpace:
        space = dict(distributions)
        if lr_levels and (bounds is None or bounds.source == "user"):
            raise SweepError(
                "hydra.sweeper.space.lr_levels are offsets from a range test's bounds: "
                f"set hydra.sweeper.space.range_test (auto or a path) and leave {keys.lr} unsearched."
            )
        if bounds is not None and bounds.source != "user":
            lr = keys.need("lr", "hydra.sweeper.space.range_test")
            space[lr] = (
                bounds.levels(lr_levels) if lr_levels else bounds.distribution(bounds_margin)
            )
        if product_param is None:
            return cls(space)
        return cls(space, _product(product_param, keys, space, fixed_keys))

    def job_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """What a job trains with: the drawn params, a product replaced by what it derives."""
        if self.product is None:
            return dict(params)
        job = {k: v for k, v in params.items() if k != self.product.name}
        return {**job, **self.product.derive(params)}

    def derived(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.product.derive(params) if self.product else {}

    @property
    def task_keys(self) -> list[str]:
        """The task keys a trial sets (left out of a study's fixed settings)."""
        return [*self.distributions, *([self.product.wd] if self.product else [])]

    def grid(self) -> dict[str, list]:
        return grid_values(self.distributions)

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())


def _product(
    name: str, keys: SweepKeys, space: dict[str, BaseDistribution], fixed_keys: set[str]
) -> Product:
    lr = keys.lr or "the lr key (sweep_keys.lr)"  # keys.need below refuses an undeclared one
    if name not in space or lr not in space:
        example = f"{name}='tag(log, interval(1e-6, 1e-2))'"
        raise SweepError(
            f"hydra.sweeper.space.product_param={name} needs both {name} and {lr} searched (e.g. {example}), got {sorted(space)}."
        )
    lr = keys.need("lr", f"hydra.sweeper.space.product_param={name}")
    wd = keys.need("wd", f"hydra.sweeper.space.product_param={name}")
    if wd in space or wd in fixed_keys:
        raise SweepError(
            f"{wd} is set from hydra.sweeper.space.product_param={name} ({wd} = {name} / {lr}); do not also give {wd}."
        )
    return Product(name, lr, wd)
