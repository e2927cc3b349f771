"""The LR range test in a loop of one's own (as torch-lr-finder's ``LRFinder.range_test`` and
fastai's ``lr_find``): any ``nn.Module``, optimizer, loss and iterable of ``(inputs, targets)``
batches. It writes the same ``range_test.json`` as ``tasks.range_test`` (the sweeper reads it:
``hydra.sweeper.space.range_test=<dir>``) and puts the model and optimizer back as they were.

    from training.range_test import find_lr
    result = find_lr(model, optimizer, torch.nn.functional.cross_entropy, loader, out_dir="rt")
    result["bounds"]   # {"min_lr": ..., "max_lr": ...}: the search bounds the sweeper uses
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from training.range_test.finder import record
from training.range_test.run import write_result


def find_lr(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    mode: str = "exp",
    smooth: float = 0.98,
    stop_factor: float = 4.0,
    out_dir: str | Path | None = None,
    device: torch.device | str | None = None,
) -> dict:
    """Raise every param group's lr from ``start_lr`` to ``end_lr`` over ``num_iter`` steps
    (``batches`` is iterated again when it runs out), stop at divergence, analyse the curve with
    the app's rules (conf/range_test.yaml's defaults: fastai's); ``model`` and ``optimizer``
    are restored afterwards. Returns the content of ``range_test.json``."""
    if num_iter < 2 or not 0 < start_lr < end_lr:
        raise ValueError(
            f"need num_iter >= 2 and 0 < start_lr < end_lr, got {num_iter}, {start_lr}, {end_lr}."
        )
    saved_model = copy.deepcopy(model.state_dict())
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    was_training = model.training
    stream = itertools.chain.from_iterable(itertools.repeat(batches))  # re-iterates a loader

    def step(lr: float) -> float:
        x, y = next(stream)
        if device is not None:
            x, y = x.to(device), y.to(device)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = loss_fn(model(x), y)
        value = float(loss.item())
        if value == value and abs(value) != float("inf"):  # no step on a non-finite loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return value

    model.train()
    try:
        curve = record(
            step,
            start_lr=start_lr,
            end_lr=end_lr,
            num_iter=num_iter,
            mode=mode,
            smooth=smooth,
            stop_factor=stop_factor,
        )
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        model.train(was_training)
    settings: dict[str, Any] = {
        "start_lr": start_lr,
        "end_lr": end_lr,
        "num_iter": num_iter,
        "mode": mode,
        "smooth": smooth,
        "stop_factor": stop_factor,
        "source": "training.range_test.find_lr",
    }
    return write_result(curve, num_iter, None, settings, None if out_dir is None else Path(out_dir))
