from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


def flat_features(body: nn.Module, in_shape: Sequence[int]) -> int:
    """Size of ``body``'s flattened output for one input of ``in_shape`` (a dry run)."""
    with torch.no_grad():
        return body(torch.zeros(2, *in_shape)).flatten(1).shape[1]


def norm(kind: type[nn.Module], channels: int, enabled: bool) -> nn.Module:
    return kind(channels) if enabled else nn.Identity()


def three_stages(
    block: Callable[[int, int, int], nn.Module],
    c_in: int,
    widths: Sequence[int],
    blocks_per_stage: int,
) -> list[nn.Module]:
    """CIFAR ResNet/WRN body: stages of ``block(c_in, c_out, stride)``, downsampling
    by 2 at the first block of every stage after the first."""
    layers = []
    for stage, c_out in enumerate(widths):
        for i in range(blocks_per_stage):
            layers.append(block(c_in, c_out, 2 if stage > 0 and i == 0 else 1))
            c_in = c_out
    return layers


def he_init_convs(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
