"""What a run leaves behind and shows: metrics.jsonl, summary.json, progress."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm

from training.parts import RunPart

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


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temp file next to ``path`` to write; renamed onto ``path`` when the block succeeds,
    so readers (and parallel writers) never see half a file. The name keeps the suffix
    (``np.savez`` adds ``.npz`` otherwise) and the pid (two processes never share one)."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """``path.write_text(text)``, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path, obj: dict) -> None:
    write_text(path, json.dumps(_jsonable(obj), indent=2) + "\n")


class MetricsFile(RunPart):
    """Appends one JSON line per epoch, flushed at once (a killed run keeps its epochs)."""

    def __init__(self, path: Path, history: Sequence[dict] = ()) -> None:
        self.path = path
        write_text(
            path, "".join(json.dumps(_jsonable(m)) + "\n" for m in history)
        )  # a resumed run: its epochs so far

    def __call__(self, metrics: dict) -> None:
        with self.path.open("a") as fh:
            fh.write(json.dumps(_jsonable(metrics)) + "\n")


class Progress(RunPart):
    """A bar per run on a terminal; plain per-epoch log lines otherwise."""

    def __init__(self, epochs: int, name: str) -> None:
        self.epochs = epochs
        self.bar = (
            tqdm(total=epochs, desc=name, unit="epoch", leave=False)
            if sys.stderr.isatty()
            else None
        )

    def __call__(self, m: dict) -> None:
        val = (
            f"val_acc={m['val_acc']:.4f} val_loss={m['val_loss']:.4f}"
            if m["val_acc"] is not None
            else "no validation split"
        )
        text = f"train_loss={m['train_loss']:.4f} {val} lr={m['lr']:.3g}"
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        else:
            log.info(f"epoch {m['epoch']}/{self.epochs} {text} ({m['epoch_s']:.2f}s)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
