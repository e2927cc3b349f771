"""Optimizer wrappers around any base optimizer: Lookahead and SAM.

Both share the base optimizer's ``param_groups`` (the schedule writes lr and momentum into
them, and the loop's weight decay reads them), so they compose with every schedule, with
coupled and decoupled weight decay, and with the range test. Config: ``wrapper=none |
lookahead | sam`` (``conf/wrapper/``); each is a partial completed with the base optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Protocol

import torch

from training.checks import ConfigError
from training.parts import RunPart, Step


class StepRule(Protocol):
    """What the loop needs of an optimizer: a torch one, or a wrapper below."""

    @property
    def param_groups(self) -> list[dict[str, Any]]: ...

    def zero_grad(self, set_to_none: bool = True) -> None: ...

    def step(self) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def no_wrapper(base: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """``wrapper=none``: the base optimizer as it is."""
    return base


class _Wrapper:
    """What the loop needs of an optimizer, forwarded to the base one."""

    def __init__(self, base: torch.optim.Optimizer) -> None:
        self.base = base

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.base.param_groups

    @property
    def defaults(self) -> dict[str, Any]:
        return self.base.defaults

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base.zero_grad(set_to_none=set_to_none)

    def params(self) -> Iterator[torch.Tensor]:
        for group in self.base.param_groups:
            yield from group["params"]

    def state_dict(self) -> dict[str, Any]:
        return self.base.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base.load_state_dict(state)


class Lookahead(_Wrapper):
    """Lookahead (Zhang et al. 2019): the base optimizer moves fast weights for ``k`` steps,
    then the slow weights move ``alpha`` of the way to them and the fast weights restart there:
    ``slow += alpha * (fast - slow); fast = slow``."""

    def __init__(self, base: torch.optim.Optimizer, k: int, alpha: float) -> None:
        if not (isinstance(k, int) and k >= 1):
            raise ConfigError(f"wrapper.k must be an integer >= 1, got {k!r}.")
        if not (isinstance(alpha, (int, float)) and 0 < alpha <= 1):
            raise ConfigError(f"wrapper.alpha must be in (0, 1], got {alpha!r}.")
        super().__init__(base)
        self.k, self.alpha, self.steps = k, float(alpha), 0
        self.slow = [p.detach().clone() for p in self.params()]

    def state_dict(self) -> dict[str, Any]:
        return {"base": self.base.state_dict(), "slow": self.slow, "steps": self.steps}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base.load_state_dict(state["base"])
        torch._foreach_copy_(self.slow, list(state["slow"]))
        self.steps = int(state["steps"])

    @torch.no_grad()
    def step(self) -> None:
        self.base.step()
        self.steps += 1
        if self.steps % self.k == 0:
            fast = list(self.params())
            torch._foreach_lerp_(self.slow, fast, self.alpha)
            torch._foreach_copy_(fast, self.slow)


class SAM(_Wrapper):
    """Sharpness-aware minimization (Foret et al. 2021): the gradient is taken at the worst
    nearby point ``w + e``, ``e = rho * g / ||g||`` (adaptive, Kwon et al. 2021:
    ``e = rho * w^2 g / ||w g||``), then the base optimizer steps from ``w`` with it. The loop
    runs the two passes as a part of the step (:class:`SharpnessPass`)."""

    def __init__(self, base: torch.optim.Optimizer, rho: float, adaptive: bool) -> None:
        if not (isinstance(rho, (int, float)) and math.isfinite(rho) and rho > 0):
            raise ConfigError(f"wrapper.rho must be a finite number > 0, got {rho!r}.")
        super().__init__(base)
        self.rho, self.adaptive = float(rho), bool(adaptive)
        self._moved: list[tuple[torch.Tensor, torch.Tensor]] = []

    @torch.no_grad()
    def perturb(self) -> None:
        """Move every weight to ``w + e`` using the gradient now in ``.grad``."""
        pairs = [(p, p.grad) for p in self.params() if p.grad is not None]
        scaled = [(p.abs() * g) if self.adaptive else g for p, g in pairs]
        norm = (
            torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(s) for s in scaled]))
            if scaled
            else torch.zeros(())
        )
        scale = self.rho / (norm + 1e-12)
        self._moved = []
        for (p, _), s in zip(pairs, scaled, strict=True):
            e = (p.abs() * s if self.adaptive else s) * scale  # adaptive: w^2 g; plain: g
            p.add_(e)
            self._moved.append((p, e))

    @torch.no_grad()
    def restore(self) -> None:
        """Back to ``w``, keeping the gradient taken at ``w + e`` for the base step."""
        for p, e in self._moved:
            p.sub_(e)
        self._moved = []

    def step(self) -> None:
        self.base.step()


class SharpnessPass(RunPart):
    """SAM's second pass, a part of every step: after the first backward, move to ``w + e``,
    take the batch's gradient there (BatchNorm statistics left alone), come back to ``w``; the
    base optimizer then steps from ``w`` with that gradient."""

    def __init__(self, sam: SAM) -> None:
        self.sam = sam

    def after_backward(self, step: Step) -> None:
        self.sam.perturb()
        self.sam.zero_grad(set_to_none=True)
        step.loss_again().backward()
        self.sam.restore()


def step_parts(optimizer: Any) -> tuple[RunPart, ...]:
    """The parts a wrapper brings into every step (SAM: its second pass)."""
    return (SharpnessPass(optimizer),) if isinstance(optimizer, SAM) else ()
