from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def flat_features(body: nn.Module, in_shape: Sequence[int]) -> int:
    """Size of ``body``'s flattened output for one input of ``in_shape`` (a dry run)."""
    with torch.no_grad():
        return body(torch.zeros(2, *in_shape)).flatten(1).shape[1]


def norm(kind: type[nn.Module], channels: int, enabled: bool) -> nn.Module:
    return kind(channels) if enabled else nn.Identity()
