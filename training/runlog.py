"""What a run leaves behind and shows: metrics.jsonl, summary.json, progress."""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

log = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    """Non-finite floats become null (also inside lists and dicts): JSON has no NaN,
    and readers must not see a fake number."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_json(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_jsonable(obj), indent=2) + "\n")
    tmp.replace(path)  # readers never see half a file


class MetricsFile:
    """Appends one JSON line per epoch, flushed at once (a killed run keeps its epochs)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("")

    def __call__(self, metrics: dict) -> None:
        with self.path.open("a") as fh:
            fh.write(json.dumps(_jsonable(metrics)) + "\n")


class Progress:
    """A bar per run on a terminal; plain per-epoch log lines otherwise."""

    def __init__(self, epochs: int, name: str) -> None:
        self.epochs = epochs
        self.bar = tqdm(total=epochs, desc=name, unit="epoch", leave=False) if sys.stderr.isatty() else None

    def __call__(self, m: dict) -> None:
        val = f"val_acc={m['val_acc']:.4f} val_loss={m['val_loss']:.4f}" if m["val_acc"] is not None else "no validation split"
        text = f"train_loss={m['train_loss']:.4f} {val} lr={m['lr']:.3g}"
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        else:
            log.info(f"epoch {m['epoch']}/{self.epochs} {text} ({m['epoch_s']:.2f}s)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
