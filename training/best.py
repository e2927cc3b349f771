"""The best-validation weights so far, kept so that the selected model can be tested at the end."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from training.data import Data
from training.loop import FitResult, Precision, evaluate
from training.parts import RunPart

Evaluation = tuple[float | None, float | None]  # (loss, accuracy); None for an empty split


class BestWeights(RunPart):
    """Epoch callback: a copy of the weights of the best validation epoch so far (the first
    of equals, as ``summarize`` picks it), so the selected model can be tested at the end."""

    def __init__(self, judged: Callable[[], nn.Module]) -> None:
        self.judged = (
            judged  # the module validation judged this epoch (the average, once there is one)
        )
        self.model: nn.Module | None = None
        self.epoch: int | None = None
        self.val_acc = -math.inf
        self.state: dict[str, torch.Tensor] | None = None

    def __call__(self, m: dict) -> None:
        if m["val_acc"] is not None and m["val_acc"] > self.val_acc:
            self.epoch, self.val_acc, self.model = m["epoch"], m["val_acc"], self.judged()
            self.state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def evaluate(self, result: FitResult, data: Data, precision: Precision) -> Evaluation | None:
        """Test metrics of the best-validation weights; None when those are the final ones."""
        last = (
            bool(result.history)
            and self.epoch == result.history[-1]["epoch"]
            and self.model is self.judged()
        )
        if self.model is None or self.state is None or last:
            return None
        self.model.load_state_dict(self.state)
        return evaluate(self.model, data, "test", precision)

    def state_dict(self, raw: nn.Module) -> dict:
        return {
            "epoch": self.epoch,
            "val_acc": self.val_acc,
            "state": self.state,
            "raw": self.model is raw,
        }

    def load_state_dict(self, state: dict, raw: nn.Module) -> None:
        self.epoch, self.val_acc, self.state = state["epoch"], state["val_acc"], state["state"]
        self.model = None if self.state is None else raw if state["raw"] else self.judged()
