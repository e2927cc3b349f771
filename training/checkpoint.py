"""Checkpoint and resume of a run: everything the next epoch depends on, in the run dir.

``checkpoint.pt`` holds the model, the optimizer (and its wrapper's state), the weight
average, the lr estimate's last iterate, the best-validation weights so far, every RNG the
run draws from (torch, the data-order generator, numpy, Python), the step, and the metrics
so far. It is written atomically (temp file + rename) every ``checkpoint.every`` epochs and
read with ``torch.load(weights_only=True)``: plain tensors and containers, nothing that
runs. Running the same command again with the same run dir continues from it, and the run
ends exactly as an uninterrupted one would (CPU; timings aside). A checkpoint written for
another config is refused with one line naming what differs. The file is removed when the
run ends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from training.averaging import Averaging
from training.best import BestWeights
from training.checks import ConfigError, flatten
from training.contract import RunStatus, identity_keys, is_runtime
from training.loop import FitResult, PartialEpoch, Preempted, Stepper
from training.lr_estimate import SecantLrEstimate
from training.parts import RunPart
from training.runlog import atomic_path

FILE = "checkpoint.pt"
FINAL = "final.pt"  # a completed run's weights, with checkpoint.final=true
FORMAT = 1


def fingerprint(cfg: DictConfig) -> dict[str, Any]:
    """The config a checkpoint belongs to, flattened to ``{dotted.key: value}``: what the run
    trains with (every key but ``contract.NOT_IDENTITY``, so a new knob counts without being
    listed), not where it runs (``contract.RUNTIME_KEYS``, e.g. the data cache's location)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    flat = flatten({k: container.get(k) for k in identity_keys(container)})
    return {k: v for k, v in flat.items() if not is_runtime(k)}


STATE_KEYS = ("step", "history", "model", "optimizer", "averaging", "best", "estimate", "rng")


def first_line(e: BaseException) -> str:
    """``Type: first line of the message`` (an empty message, as a 0-byte file gives, included)."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:200]}" if lines else type(e).__name__


def save(path: Path, state: dict[str, Any]) -> None:
    """Atomically; a write that fails (a full disk) leaves the last checkpoint as it was and is
    one :class:`ConfigError` line."""
    try:
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
    except (OSError, RuntimeError) as e:  # torch wraps a short write in RuntimeError
        raise ConfigError(
            f"{path}: the checkpoint could not be written ({first_line(e)}); the last one is kept. Free disk space and run the same command again."
        ) from None


def remove_stale_temps(path: Path) -> list[Path]:
    """Temp files a killed writer left beside ``path`` (``.checkpoint.<pid>.tmp.pt``): another
    process's name, never renamed onto ``path``; this run's own writes replace them."""
    stale = list(path.parent.glob(f".{path.stem}.*.tmp{path.suffix}"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def load(path: Path, expected: dict[str, Any], device: torch.device) -> dict[str, Any] | None:
    """The checkpoint in ``path`` if there is one for this config; None if there is none."""
    if not path.is_file():
        return None
    unreadable = f"{path} is not a readable checkpoint"
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except (
        Exception
    ) as e:  # truncated, empty, or not a checkpoint of ours: refuse rather than guess
        raise ConfigError(f"{unreadable} ({first_line(e)}); delete it to start over.") from None
    if not isinstance(state, dict):
        kind = type(state).__name__
        raise ConfigError(f"{unreadable} (it holds a {kind}); delete it to start over.")
    stored = state.get("fingerprint", {})
    if state.get("format") != FORMAT or stored != expected:
        keys = sorted(k for k in set(stored) | set(expected) if stored.get(k) != expected.get(k))
        shown = ", ".join(f"{k}: {stored.get(k)!r} -> {expected.get(k)!r}" for k in keys[:4]) + (
            " ..." if len(keys) > 4 else ""
        )
        raise ConfigError(
            f"{path} was written for another config ({shown or 'format ' + str(state.get('format'))}); use another run dir or delete it."
        )
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise ConfigError(f"{unreadable} (no {', '.join(missing)} in it); delete it to start over.")
    return state


def load_weights(path: Path, model: torch.nn.Module) -> None:
    """Model weights from another run (``final.pt``, or the run dir holding it), as plain tensors."""
    path = path.expanduser()
    path = path / FINAL if path.is_dir() else path
    if not path.is_file():
        raise ConfigError(
            f"init_from: {path} not found (a run with checkpoint.final=true writes {FINAL})."
        )
    try:
        state = torch.load(path, map_location=next(model.parameters()).device, weights_only=True)
        if not isinstance(state, dict) or "model" not in state:
            raise ValueError(f"it holds a {type(state).__name__} without model weights")
        model.load_state_dict(state["model"])
    except Exception as e:
        raise ConfigError(
            f"init_from: {path} does not hold weights for this model ({first_line(e)})."
        ) from None


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """Every RNG a run draws from, as tensors and plain values (``weights_only`` loads them)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generator": generator.get_state(),
        "numpy": [
            kind,
            torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            int(pos),
            int(has_gauss),
            float(cached),
        ],
        "python": [version, list(internal), gauss],
    }


def set_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"]:
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    generator.set_state(state["generator"].cpu())
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


@dataclass
class Checkpointer(RunPart):
    """The run part that writes the run's checkpoint every ``every`` epochs (0: never) and at a
    stop signal, restores a run from it, and removes it when the run ends. The run's objects
    are its own; this only gathers their state."""

    path: Path
    every: int
    expected: dict[str, Any]
    stepper: Stepper
    averaging: Averaging
    best: BestWeights
    estimate: SecantLrEstimate | None
    history: list[dict] = field(default_factory=list)

    def __call__(self, metrics: dict) -> None:
        self.history.append(metrics)
        if self.every and metrics["epoch"] % self.every == 0:
            save(self.path, self.state(metrics["step"]))

    def on_preempt(self, preempted: Preempted) -> None:
        """A checkpoint at a step boundary inside an epoch (a stop signal arrived)."""
        p = preempted.partial
        save(
            self.path,
            self.state(
                preempted.steps,
                {
                    "epoch": p.epoch,
                    "batch": p.batch,
                    "perm": p.perm,
                    "loss_sum": p.loss_sum,
                    "correct": p.correct,
                },
            ),
        )

    def state(self, step: int, partial: dict[str, Any] | None = None) -> dict[str, Any]:
        s = self.stepper
        return {
            "format": FORMAT,
            "fingerprint": self.expected,
            "step": step,
            "history": self.history,
            "partial": partial,
            "model": s.model.state_dict(),
            "optimizer": s.optimizer.state_dict(),
            "averaging": self.averaging.state_dict(),
            "best": self.best.state_dict(s.model),
            "estimate": self.estimate.state_dict() if self.estimate else None,
            "rng": rng_state(s.generator),
        }

    def restore(self) -> FitResult | None:
        """The epochs done so far, with every part set back to where they left it; None without a checkpoint."""
        s = self.stepper
        remove_stale_temps(self.path)  # a kill during a write: the last whole checkpoint counts
        state = load(self.path, self.expected, next(s.model.parameters()).device)
        if state is None:
            return None
        s.model.load_state_dict(state["model"])
        s.optimizer.load_state_dict(state["optimizer"])
        self.averaging.load_state_dict(state["averaging"])
        self.best.load_state_dict(state["best"], s.model)
        if self.estimate is not None and state["estimate"] is not None:
            self.estimate.load_state_dict(state["estimate"])
        set_rng_state(state["rng"], s.generator)
        self.history = list(state["history"])
        p = state.get("partial")
        partial = (
            PartialEpoch(p["epoch"], p["batch"], p["perm"], p["loss_sum"], p["correct"])
            if p
            else None
        )
        return FitResult(
            status=RunStatus.COMPLETED,
            history=list(self.history),
            steps=int(state["step"]),
            partial=partial,
        )

    def on_end(self, result: FitResult) -> None:
        """The run ended (completed, stopped or diverged): nothing to continue."""
        self.path.unlink(missing_ok=True)
        remove_stale_temps(self.path)


@dataclass
class FinalWeights(RunPart):
    """``checkpoint.final=true``: a completed run's weights, for a later run's ``init_from=``."""

    path: Path
    model: torch.nn.Module

    def on_end(self, result: FitResult) -> None:
        if result.status == RunStatus.COMPLETED:
            save(self.path, {"model": self.model.state_dict()})
