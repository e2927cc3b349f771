"""What the in-memory data path still wins over streaming a ``torch.utils.data`` Dataset.

The same run (MNIST-1D's arrays, ``cnn1d`` or ``mlp``, one-cycle SGD, batch 128 as the default
run) three ways, in one process, interleaved over repeats (A B C A B C ...), all from the same
``.npy`` files through ``training.data.stream.npy_folder``:

- ``memory``: ``stream=false``: the files read whole, device tensors, batches sliced by index
  (the default path of every built-in data config);
- ``stream``: a memory-mapped Dataset, a DataLoader over the same seeded batches, no workers;
- ``stream_w2``: the same with ``data.loader.num_workers=2``.

Each run loads its data itself (the per-process cache is cleared), the stream arms sum their
statistics in one pass. Every arm trains on the same batches in the same order
(``tests/test_stream.py`` checks that the metrics are equal), so the ratio is the data path's
cost alone. Prints a Markdown table.

    python bench/bench_data_path.py [--model cnn1d] [--epochs 5] [--repeats 5] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

from training.data.splits import _cached
from training.runner import run

CONF = str(Path(__file__).resolve().parents[1] / "conf")
ARMS = {"memory": None, "stream": 0, "stream_w2": 2}  # arm -> DataLoader workers (None: in memory)


def cfg_for(model: str, epochs: int, batch_size: int, npy: Path | None, workers: int | None = None):
    overrides = [f"model={model}", f"epochs={epochs}", f"batch_size={batch_size}"]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, "threads=1", "device=cpu"])
    if npy is not None:
        source = {"_target_": "training.data.stream.npy_folder", "root": str(npy)}
        cfg.data.source = OmegaConf.create({**source, "stream": workers is not None})
        with open_dict(cfg):  # a data config of one's own says it: loader: {num_workers: 2}
            cfg.data.loader = {"num_workers": workers or 0}
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="cnn1d")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128)
    args = ap.parse_args()
    logging.disable(logging.INFO)
    seconds: dict[str, list[float]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory() as tmp:
        npy = Path(tmp) / "npy"
        npy.mkdir()
        arrays = instantiate(cfg_for(args.model, 1, 128, None).data.source, _partial_=True)()
        for name, a in zip(("train_x", "train_y", "test_x", "test_y"), arrays, strict=True):
            np.save(npy / f"{name}.npy", a)
        run(cfg_for(args.model, 1, args.batch_size, npy), Path(tmp) / "warm-up")  # imports
        for r in range(args.repeats):
            for arm, workers in ARMS.items():
                cfg = cfg_for(args.model, args.epochs, args.batch_size, npy, workers)
                _cached.cache_clear()
                t0 = time.perf_counter()
                run(cfg, Path(tmp) / f"{arm}-{r}")
                seconds[arm].append(time.perf_counter() - t0)
    base = statistics.median(seconds["memory"])
    print("| model | batch | epochs | repeats | arm | median s/run | ratio to memory [min, max] |")
    print("|---|---|---|---|---|---|---|")
    for arm, s in seconds.items():
        ratios = [x / m for x, m in zip(s, seconds["memory"], strict=True)]
        print(
            f"| {args.model} | {args.batch_size} | {args.epochs} | {args.repeats} | {arm} | "
            f"{statistics.median(s):.2f} | {statistics.median(s) / base:.2f} "
            f"[{min(ratios):.2f}, {max(ratios):.2f}] |"
        )


if __name__ == "__main__":
    main()
