"""What a balance study's budget can say (issue 36 item 6): ``sweep=balance`` on a suite task at
several run budgets (``hydra.sweeper.scheduler.max_runs``), each with three run-seed replicates,
read against the task's dense grid (bench/suite/<task>.csv, 3 seeds a cell).

    python bench/budget.py run [--task mnist1d_cnn1d_sgd] [--runs 30 60 105] [--seeds 0,1 2,3 4,5]
    python bench/budget.py table
    python bench/budget.py run --runs 60 --out bench/suite/budget_limit.json   # another file

Each study runs through the real app (``python -m tasks.train -m sweep=balance ...``, its own
range test, one worker, threads=1) and ends with its recommendation (``optimization_results.yaml``).
Read per study: the recommendation's expected regret on the grid (``bench/regret.py``: bilinear
cell means of validation, failed cells at chance; and its test twin), whether the band (the
model of the study's runs, as the sweep fits it) holds the grid's best cell, and whether it
calls anything "as good" that the grid puts more than 1 point below its best. Results:
``bench/suite/budget.json``; the table goes to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import regret  # noqa: E402
import suite  # noqa: E402

OUT = suite.OUT / "budget.json"


def one(task: str, runs: int, seeds: str) -> dict:
    t = suite.TASKS[task]
    with tempfile.TemporaryDirectory() as d:
        t0 = time.time()
        p = subprocess.run(
            [
                sys.executable, "-m", "tasks.train", "-m", "sweep=balance", *t.overrides,
                f"epochs={t.epochs}", *suite.RUNTIME, f"seed=choice({seeds})",
                f"hydra.sweeper.scheduler.max_runs={runs}",
                f"hydra.sweeper.storage=sqlite:///{d}/s.db", f"hydra.sweep.dir={d}/sweep",
            ],
            cwd=d, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(suite.ROOT)},
        )  # fmt: skip
        if p.returncode:
            raise SystemExit(f"{task} {runs} {seeds}: exit {p.returncode}\n{p.stderr[-2000:]}")
        results = yaml.safe_load((Path(d) / "sweep" / "optimization_results.yaml").read_text())
        import optuna

        study = optuna.load_study(study_name=None, storage=f"sqlite:///{d}/s.db")
        rows = [
            [t.params["max_lr"], t.params["wd"], t.state.name == "COMPLETE", t.value]
            for t in study.get_trials(deepcopy=False)
            if t.state.name in ("COMPLETE", "PRUNED")
        ]
        said = [x for x in (p.stdout + p.stderr).splitlines() if "recommendation:" in x]
        return {
            "wall_s": round(time.time() - t0),
            "recommendation": results.get("recommendation"),
            "line": said[-1].split("recommendation:", 1)[1].strip() if said else "",
            "design_stop": (study.user_attrs.get("design") or {}).get("stop"),
            "rows": rows,
        }


def run(task: str, budgets: list[int], seeds: list[str], out: Path = OUT) -> None:
    stored = json.loads(out.read_text()) if out.exists() else {}
    for s in seeds:  # one replicate of every budget first
        for n in budgets:
            key = f"{task}/{n}/{s}"
            if key in stored:
                continue
            stored[key] = one(task, n, s)
            out.write_text(json.dumps(stored, indent=0, sort_keys=True))
            print(key, stored[key]["line"][:160], flush=True)


def judged(task: str, r: dict, grid: regret.Grid) -> tuple[float, float, bool, bool]:
    """(regret on validation, on test, the band holds the grid's best cell, the band holds no
    cell more than 1 point below it), in points."""
    import numpy as np

    from analysis.recommend import in_band
    from analysis.surface import Run, fit

    rec = r["recommendation"]
    val, test = grid.quality(rec["max_lr"], rec["wd"])
    runs = [Run(a, w, v if ok else None) for a, w, ok, v in r["rows"]]
    s = fit(runs, metric="best_val_acc", maximize=True, chance=0.1)
    lrs, wds = np.meshgrid(grid.lrs, grid.wds, indexing="ij")
    inside = in_band(s, rec, lrs.ravel(), wds.ravel()).reshape(lrs.shape)
    best = np.unravel_index(np.argmax(grid.val), grid.val.shape)
    below = grid.val < grid.best_val - 0.01
    return (
        100 * (grid.best_val - val),
        100 * (grid.best_test - test),
        bool(inside[best]),
        not bool((inside & below).any()),
    )


def table(out: Path = OUT) -> None:
    stored = json.loads(out.read_text())
    print(
        "| task | max_runs | replicate (run seeds) | runs | wall (s) | recommendation | regret val / test (pts) | band holds the grid's best | nothing > 1 pt below called as good | the design's stop |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    grids: dict[str, regret.Grid] = {}
    for key, r in sorted(
        stored.items(), key=lambda kv: (kv[0].split("/")[0], int(kv[0].split("/")[1]), kv[0])
    ):
        task, n, seeds = key.split("/")
        grid = grids.setdefault(task, regret.Grid(task))
        rec = r["recommendation"]
        if not rec:
            print(
                f"| {task} | {n} | {seeds} | {len(r['rows'])} | {r['wall_s']} | none | | | | {r['design_stop']} |"
            )
            continue
        rv, rt, best, nothing = judged(task, r, grid)
        print(
            f"| {task} | {n} | {seeds} | {len(r['rows'])} | {r['wall_s']} | "
            f"max_lr={rec['max_lr']:.3g}, wd={rec['wd']:.2g} | {rv:.2f} / {rt:.2f} | "
            f"{'yes' if best else 'no'} | {'yes' if nothing else 'no'} | {r['design_stop']} |"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--task", default="mnist1d_cnn1d_sgd", choices=list(suite.TASKS))
    r.add_argument("--runs", nargs="+", type=int, default=[30, 60, 105])
    r.add_argument("--seeds", nargs="+", default=["0,1", "2,3", "4,5"])
    t = sub.add_parser("table")
    for q in (r, t):  # the results of another design (or commit) kept apart
        q.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args()
    if a.cmd == "run":
        run(a.task, a.runs, a.seeds, a.out)
    else:
        table(a.out)


if __name__ == "__main__":
    main()
