"""Training throughput of ``tasks.train`` against a minimal hand-written PyTorch loop.

Both train the same ``cnn1d`` on the same MNIST-1D tensors with the same batch size,
one-cycle SGD (torch's ``OneCycleLR`` in the baseline), evaluate validation every
epoch and test once, in one process, interleaved (A B B A ...) over repeats. The
ratio is ours / baseline training samples per second; goal >= 0.97.

    python bench/bench_train.py [--epochs 40] [--repeats 7] [--batch-size 512] [--threads 1] [--device cpu]

Prints a Markdown table row for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from training.data import load_splits
from training.runner import run

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def baseline(cfg, epochs: int, batch_size: int, device: torch.device) -> float:
    """The loop a user would write by hand: returns seconds for the whole run."""
    t0 = time.perf_counter()
    data = load_splits(cfg.data).to(device)
    torch.manual_seed(0)
    model = instantiate(cfg.model).to(device)
    opt = torch.optim.SGD(
        model.parameters(), lr=cfg.max_lr, momentum=0.9, nesterov=True, weight_decay=cfg.wd
    )
    steps = len(data.train_y) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.max_lr, total_steps=epochs * steps, pct_start=0.25
    )
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(data.train_y), device=device)
        for i in range(steps):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            loss = F.cross_entropy(model(data.train_x[idx]), data.train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            (model(data.val_x).argmax(1) == data.val_y).float().mean().item()
    with torch.no_grad():
        (model(data.test_x).argmax(1) == data.test_y).float().mean().item()
    return time.perf_counter() - t0


def ours(cfg, out: Path) -> float:
    t0 = time.perf_counter()
    run(cfg, out)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--long-epochs", type=int, default=100, help="epochs of the single timed one-cycle run"
    )
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    overrides = [
        f"epochs={a.epochs}",
        f"batch_size={a.batch_size}",
        f"threads={a.threads}",
        f"device={a.device}",
        "max_lr=0.1",
    ]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=overrides)
        long_cfg = compose("train", overrides=[*overrides, f"epochs={a.long_epochs}"])
    n_train = len(load_splits(cfg.data).train_y)  # also warms the data cache
    samples = a.epochs * (n_train // a.batch_size) * a.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        ours(cfg, Path(tmp) / "warm")
        baseline(cfg, a.epochs, a.batch_size, device)
        t_base, t_ours = [], []
        for r in range(a.repeats):
            order = (
                [("base", baseline), ("ours", None)]
                if r % 2 == 0
                else [("ours", None), ("base", baseline)]
            )
            for name, _ in order:
                if name == "base":
                    t_base.append(baseline(cfg, a.epochs, a.batch_size, device))
                else:
                    t_ours.append(ours(cfg, Path(tmp) / f"r{r}"))
        long_s = ours(long_cfg, Path(tmp) / "long")
    ratios = [b / o for b, o in zip(t_base, t_ours, strict=True)]
    version = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(
        f"baseline samples/s: median {samples / statistics.median(t_base):.0f} (min {samples / max(t_base):.0f}, max {samples / min(t_base):.0f})"
    )
    print(
        f"ours     samples/s: median {samples / statistics.median(t_ours):.0f} (min {samples / max(t_ours):.0f}, max {samples / min(t_ours):.0f})"
    )
    print(
        f"ratio ours/baseline: median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}) over {a.repeats} interleaved repeats"
    )
    print(
        f"one {a.long_epochs}-epoch one-cycle run (batch {a.batch_size}, incl. build + eval + files): {long_s:.2f} s"
    )
    print(
        f"| {version} | {a.device} | {a.threads} | {a.batch_size} | {a.epochs} | {samples / statistics.median(t_base):.0f} | "
        f"{samples / statistics.median(t_ours):.0f} | {statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) | {long_s:.2f} s |"
    )


if __name__ == "__main__":
    main()
