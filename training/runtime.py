"""Device, threads, precision and seeding for one run."""

from __future__ import annotations

import random

import numpy as np
import torch

from training.checks import ConfigError
from training.loop import Precision


def resolve_device(spec: str) -> torch.device:
    """``auto`` picks CUDA when present; an explicit CUDA device must exist."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device={spec} but CUDA is not available here; use device=cpu or device=auto."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device={spec} but only {torch.cuda.device_count()} CUDA device(s) exist."
            )
    return device


def resolve_precision(spec: str, device: torch.device) -> Precision:
    """``auto``: bf16 autocast + channels_last on CUDA, plain fp32 on CPU."""
    on_cuda = device.type == "cuda"
    dtype = {"auto": torch.bfloat16 if on_cuda else None, "fp32": None, "bf16": torch.bfloat16}[
        spec
    ]
    return Precision(autocast_dtype=dtype, channels_last=on_cuda)


def seed_everything(seed: int, device: torch.device) -> torch.Generator:
    """Seed global RNGs (model init, dropout) and return the data-order generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def numerics(device: torch.device) -> dict[str, object]:
    """What a run's floats depend on beyond its config (``summary.json``'s ``numerics``)."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(device)}
