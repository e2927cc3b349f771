"""Start-up of a job process: ``python -m tasks.train`` until its first training step, side by
side with ``python -c "import torch"`` (and torch + one optimizer, which imports torch._dynamo),
interleaved, with repeats (issue 12, point 9).

    python bench/bench_startup.py [--repeats 5]

"Until its first training step" is the moment ``metrics.jsonl`` appears in the run dir (the
run creates it just before the first step), polled every 2 ms from this process; the MNIST-1D
data is cached first, as it is for every job after the first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
TORCH = [sys.executable, "-c", "import torch"]
TORCH_OPTIM = [
    sys.executable,
    "-c",
    "import torch; torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1).zero_grad()",
]


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=ENV, check=True, capture_output=True)
    return time.perf_counter() - t0


def to_first_step(run_dir: Path) -> float:
    cmd = [sys.executable, "-m", "tasks.train", "epochs=1", f"hydra.run.dir={run_dir}"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not (run_dir / "metrics.jsonl").exists():
        if proc.poll() is not None:
            raise RuntimeError("the run ended before its first step")
        time.sleep(0.002)
    first = time.perf_counter() - t0
    proc.wait()
    return first


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    n = ap.parse_args().repeats
    with tempfile.TemporaryDirectory() as d:
        to_first_step(Path(d) / "warm")  # caches the data set
        arms: dict[str, list[float]] = {
            "import torch": [],
            "import torch + an optimizer": [],
            "tasks.train to its first step": [],
        }
        for i in range(n):  # interleaved: drift hits every arm alike
            arms["import torch"].append(wall(TORCH))
            arms["import torch + an optimizer"].append(wall(TORCH_OPTIM))
            arms["tasks.train to its first step"].append(to_first_step(Path(d) / f"r{i}"))
    base = statistics.median(arms["import torch"])
    print("| process | median s (min-max) | minus import torch |")
    print("|---|---|---|")
    for name, xs in arms.items():
        print(
            f"| {name} | {statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f}) | {statistics.median(xs) - base:+.2f} |"
        )


if __name__ == "__main__":
    main()
