"""Batch-level image augmentation on device tensors (no per-sample Python)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    """Random crop after zero padding by ``crop_padding`` pixels, and horizontal flip."""

    crop_padding: int
    flip: bool

    @property
    def active(self) -> bool:
        return self.crop_padding > 0 or self.flip

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(
                f"data.augment works on images (N, C, H, W), got shape {tuple(x.shape)}."
            )
        n, _, h, w = x.shape
        if self.crop_padding > 0:
            p = self.crop_padding
            padded = F.pad(x, (p, p, p, p))
            dy = torch.randint(0, 2 * p + 1, (n, 1), device=x.device, generator=gen)
            dx = torch.randint(0, 2 * p + 1, (n, 1), device=x.device, generator=gen)
            rows = (dy + torch.arange(h, device=x.device))[:, None, :, None]  # (n, 1, h, 1)
            cols = (dx + torch.arange(w, device=x.device))[:, None, None, :]  # (n, 1, 1, w)
            x = padded.gather(2, rows.expand(n, x.shape[1], h, w + 2 * p)).gather(
                3, cols.expand(n, x.shape[1], h, w)
            )
        if self.flip:
            mask = torch.rand(n, device=x.device, generator=gen) < 0.5
            x = torch.where(mask[:, None, None, None], x.flip(3), x)
        return x
