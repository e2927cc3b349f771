"""The task suite: six offline tasks, each with a dense reference grid of max_lr x wd x seed.

    python bench/suite.py grid all --workers 2     # (re)build every grid; resumes a partial one
    python bench/suite.py grid digits_lenet5_sgd   # one task
    python bench/suite.py verdicts                 # analysis.analyze_balance on each grid (table)
    python bench/suite.py preset all --workers 2   # sweep=balance twice per task (run seeds 0,1 / 2,3)
    python bench/suite.py table                    # grids vs presets (BENCHMARKS.md)

A grid's lr levels are placed from the task's own range test (seed 0, the app's defaults):
``B x 10^(k/3)`` for k = -6..3, where B is the test's max_lr bound (two decades below it to one
above); wd takes 12 values 1e-6..3e-1 (half-decade steps); 3 seeds. 10 x 12 x 3 = 360 runs,
each a real ``training.runner.run`` of the task's config (CPU, one thread a worker).
A grid is stored as ``bench/suite/<task>.csv``: a header of ``# key: value`` lines (the
command, commit, overrides, range-test bounds, chance level) and one row per run
(max_lr, wd, seed, status, best_val_acc, test_acc_at_best, epochs). Rows are appended as runs
finish, so a killed build loses nothing and the same command completes it.

Tasks tuned on (the analysis and presets were adjusted while looking at them) and the
held-out ones (looked at only to report) are marked in ``TASKS``.
"""

from __future__ import annotations

import argparse
import csv
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "suite"
FIELDS = ("max_lr", "wd", "seed", "status", "best_val_acc", "test_acc_at_best", "epochs")
WDS = tuple(float(f"{m}e{e}") for e in range(-6, 0) for m in (1, 3))  # 1e-6 .. 3e-1
SEEDS = (0, 1, 2)
LEVEL_STEPS = tuple(k / 3 for k in range(-6, 4))  # decades from the range test's max_lr bound


@dataclass(frozen=True)
class Task:
    overrides: tuple[str, ...]
    epochs: int
    held_out: bool
    what: str


TASKS = {
    "mnist1d_cnn1d_sgd": Task(
        ("data=mnist1d", "model=cnn1d"), 15, False, "MNIST-1D, conv + BatchNorm, SGD, L2"
    ),
    "digits_lenet5_sgd": Task(
        ("data=digits", "model=lenet5"), 20, False, "digits, LeNet-5 (no BatchNorm), SGD, L2"
    ),
    "mnist1d_mlp_sgd": Task(
        ("data=mnist1d", "model=mlp"), 15, False, "MNIST-1D, MLP + BatchNorm, SGD, L2"
    ),
    "digits_mlp_adamw": Task(
        ("data=digits", "model=mlp", "optimizer=adamw", "regularization=decoupled"),
        20,
        False,
        "digits, MLP + BatchNorm, AdamW, decoupled decay",
    ),
    "mnist1d_cnn1d_nobn_adamw": Task(
        (
            "data=mnist1d",
            "model=cnn1d",
            "model.batch_norm=false",
            "optimizer=adamw",
            "regularization=decoupled",
        ),
        15,
        True,
        "MNIST-1D, conv without BatchNorm, AdamW, decoupled decay",
    ),
    "digits_lenet5_sgdw": Task(
        ("data=digits", "model=lenet5", "regularization=decoupled"),
        20,
        True,
        "digits, LeNet-5 (no BatchNorm), SGD, decoupled decay (SGDW)",
    ),
}
# issue 35 item 5: a task whose full run costs >= 30 s here (4x the samples, 3x the channels of
# mnist1d_cnn1d_sgd), so the range test and start-up are a small share of a sweep's wall; no
# dense grid (120 cells x 3 seeds would take 3 h): `search_suite.py wall` reads the wall ratio
WALL_TASKS = {
    "mnist1d_cnn1d_large": Task(
        ("data=mnist1d", "model=cnn1d", "data.source.num_samples=20000", "model.channels=96"),
        15,
        False,
        "MNIST-1D at 20k samples, conv (96 channels) + BatchNorm, SGD, L2",
    ),
}
RUNTIME = ("threads=1", "device=cpu")


def compose(config: str, overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose(config, overrides=[*RUNTIME, *overrides])


def range_bounds(task: Task) -> dict:
    from training.range_test import range_test

    with tempfile.TemporaryDirectory() as d:
        r = range_test(compose("range_test", list(task.overrides)), Path(d))
    return {"min_lr": r["bounds"]["min_lr"], "max_lr": r["bounds"]["max_lr"]}


def one_run(overrides: list[str]) -> dict:
    """One real training run in this worker; returns the summary fields a grid keeps."""
    import json

    from training.runner import run

    with tempfile.TemporaryDirectory() as d:
        run(compose("train", ["checkpoint.every=0", *overrides]), Path(d))
        return json.loads((Path(d) / "summary.json").read_text())


def read_grid(path: Path) -> tuple[dict[str, str], list[dict]]:
    """A stored grid: its header (``# key: value``) and its rows (numbers parsed)."""
    header, lines = {}, []
    for line in path.read_text().splitlines():
        if line.startswith("# "):
            key, _, value = line[2:].partition(": ")
            header[key] = value
        elif line:
            lines.append(line)
    rows = []
    for r in csv.DictReader(lines):
        rows.append(
            {
                "max_lr": float(r["max_lr"]),
                "wd": float(r["wd"]),
                "seed": int(r["seed"]),
                "status": r["status"],
                "best_val_acc": _number(r["best_val_acc"]),
                "test_acc_at_best": _number(r["test_acc_at_best"]),
                "epochs": int(r["epochs"]),
            }
        )
    return header, rows


def _number(text: str) -> float:
    return math.nan if text in ("", "None", "nan") else float(text)


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True)
    return out.stdout.decode().strip() or "unknown"


def _cells(task: Task, bound: float) -> Iterator[tuple[float, float, int]]:
    for k in LEVEL_STEPS:
        for wd in WDS:
            for seed in SEEDS:
                yield float(f"{bound * 10**k:.4g}"), wd, seed


def _fmt(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.6g}"


def build_grid(name: str, workers: int) -> Path:
    task = TASKS[name]
    path = OUT / f"{name}.csv"
    OUT.mkdir(parents=True, exist_ok=True)
    if path.exists():
        header, rows = read_grid(path)
        bound = float(header["range_test_max_lr"])
    else:
        bounds = range_bounds(task)
        bound = bounds["max_lr"]
        header = {
            "task": name,
            "what": task.what,
            "command": f"python bench/suite.py grid {name} --workers {workers}",
            "commit": _commit(),
            "overrides": " ".join([*task.overrides, f"epochs={task.epochs}", *RUNTIME]),
            "range_test_min_lr": f"{bounds['min_lr']:.6g}",
            "range_test_max_lr": f"{bound:.6g}",
            "held_out": str(task.held_out).lower(),
        }
        path.write_text(
            "".join(f"# {k}: {v}\n" for k, v in header.items()) + ",".join(FIELDS) + "\n"
        )
        rows = []
    done = {(r["max_lr"], r["wd"], r["seed"]) for r in rows}
    todo = [c for c in _cells(task, bound) if c not in done]
    print(f"{name}: {len(done)} runs stored, {len(todo)} to run on {workers} workers", flush=True)
    spawn = multiprocessing.get_context("spawn")  # the parent imported torch for the range test
    with ProcessPoolExecutor(workers, mp_context=spawn) as pool, path.open("a") as f:
        futures = {
            pool.submit(
                one_run,
                [*task.overrides, f"epochs={task.epochs}", f"max_lr={lr}", f"wd={wd}", f"seed={s}"],
            ): (lr, wd, s)
            for lr, wd, s in todo
        }
        for i, fut in enumerate(as_completed(futures), 1):
            lr, wd, s = futures[fut]
            r = fut.result()
            values = (lr, wd, s, r["status"], r["best_val_acc"], r["test_acc_at_best"], r["epochs"])
            f.write(
                ",".join(_fmt(v) if v is None or isinstance(v, float) else str(v) for v in values)
                + "\n"
            )
            f.flush()
            if i % 30 == 0:
                print(f"{name}: {i}/{len(todo)}", flush=True)
    return path


def steps_per_epoch(task: Task) -> int:
    from training.runner import check_batch_fits_data

    cfg = compose("train", list(task.overrides))
    return len(check_batch_fits_data(cfg).train_y) // cfg.batch_size


def simple_ridge(rows: list[dict], tolerance: float = 0.01) -> tuple[float | None, dict]:
    """The model-free reading of a dense grid (issue 19's): per lr level whose best cell mean
    is above chance + 0.2 x (best - chance), the largest wd whose cell mean (over seeds) is
    within ``tolerance`` of that level's best; OLS slope of log10 of it over log10 max_lr."""
    cells: dict[tuple[float, float], list[float]] = {}
    for r in rows:
        ok = r["status"] == "completed" and math.isfinite(r["best_val_acc"])
        cells.setdefault((r["max_lr"], r["wd"]), []).append(r["best_val_acc"] if ok else 0.1)
    means = {k: sum(v) / len(v) for k, v in cells.items()}
    top = max(means.values())
    ridge = {}
    for lr in sorted({k[0] for k in means}):
        level = {wd: m for (a, wd), m in means.items() if a == lr}
        best = max(level.values())
        if best >= 0.1 + 0.2 * (top - 0.1):
            ridge[lr] = max(wd for wd, m in level.items() if m >= best - tolerance)
    if len(ridge) < 3:
        return None, ridge
    x = [math.log10(a) for a in ridge]
    y = [math.log10(b) for b in ridge.values()]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    slope = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sum(
        (a - mx) ** 2 for a in x
    )
    return slope, ridge


def grid_verdict(name: str, rows: list[dict], seed: int = 0):
    from analysis import analyze_balance

    ok = [r["status"] == "completed" and math.isfinite(r["best_val_acc"]) for r in rows]
    return analyze_balance(
        [r["max_lr"] for r in rows],
        [r["wd"] for r in rows],
        [r["best_val_acc"] if k else None for r, k in zip(rows, ok, strict=True)],
        metric="best_val_acc",
        maximize=True,
        chance=0.1,
        wd_range=(min(WDS), max(WDS)),
        steps_per_epoch=steps_per_epoch(TASKS[name]),
        seed=seed,
    )


def best_cell(rows: list[dict]) -> dict:
    """The grid's best cell by mean validation accuracy over its seeds, with its mean test."""
    cells: dict[tuple[float, float], list[dict]] = {}
    for r in rows:
        if r["status"] == "completed":
            cells.setdefault((r["max_lr"], r["wd"]), []).append(r)
    (lr, wd), runs = max(
        cells.items(), key=lambda kv: sum(r["best_val_acc"] for r in kv[1]) / len(kv[1])
    )
    mean = lambda k: sum(r[k] for r in runs) / len(runs)  # noqa: E731
    return {
        "max_lr": lr,
        "wd": wd,
        "val": mean("best_val_acc"),
        "test": mean("test_acc_at_best"),
        "seeds": len(runs),
    }


def verdicts() -> None:
    """Per stored grid: the model-free ridge slope, analyze_balance's verdict, the best cell."""
    for name, task in TASKS.items():
        path = OUT / f"{name}.csv"
        if not path.exists():
            continue
        header, rows = read_grid(path)
        slope, _ = simple_ridge(rows)
        r = grid_verdict(name, rows)
        b = best_cell(rows)
        tag = "held out" if task.held_out else "tuned on"
        print(
            f"## {name} ({tag}; {len(rows)} runs; range test max_lr bound {header['range_test_max_lr']})"
        )
        print(
            f"  best cell: max_lr {b['max_lr']:.3g} wd {b['wd']:.3g} val {b['val']:.4f} test {b['test']:.4f} ({b['seeds']} seeds)"
        )
        print(f"  model-free ridge slope (largest wd within 1 point of each level's best): {slope}")
        print(f"  analysis: [{r.prediction}] {r.verdict}")
        for w in r.warnings:
            print(f"  warning: {w}")


PRESET_SEEDS = ("0,1", "2,3", "4,5")  # run-seed replicates of sweep=balance (the third: issue 29)


def preset(name: str, workers: int, seeds: str) -> None:
    """``sweep=balance`` on the task as a user runs it (its own range test, the adaptive design,
    parallel joblib workers) with run seeds ``seeds``; every run is kept in ``presets.json``
    (compactly) and ``table`` recomputes the verdict from them."""
    import json
    import time

    import optuna

    task = TASKS[name]
    results_path = OUT / "presets.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    study_name = f"{name}-seeds{seeds.replace(',', '')}"
    if study_name in results:
        return  # done: the same command completes a partial benchmark
    with tempfile.TemporaryDirectory() as d:
        t0 = time.time()
        subprocess.run(
            [
                sys.executable, "-m", "tasks.train", "-m", "sweep=balance", *task.overrides,
                f"epochs={task.epochs}", *RUNTIME, f"seed=choice({seeds})",
                f"hydra.sweeper.storage=sqlite:///{d}/s.db",
                f"hydra.sweeper.study_name={study_name}", f"hydra.sweep.dir={d}/{study_name}",
                "hydra/launcher=joblib", f"hydra.launcher.n_jobs={workers}",
                f"hydra.sweeper.n_jobs={workers}",
            ],
            cwd=d, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        wall = time.time() - t0
        study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{d}/s.db")
        finished = [
            t for t in study.get_trials(deepcopy=False) if t.state.name in ("COMPLETE", "PRUNED")
        ]
        results[study_name] = {
            "wall_s": round(wall),
            "design": study.user_attrs.get("design"),
            # [max_lr, wd, seed, completed, best_val_acc] per run (the temp study is not kept)
            "rows": [
                [t.params["max_lr"], t.params["wd"], t.params["seed"], t.state.name == "COMPLETE",
                 t.value if t.state.name == "COMPLETE" else None]
                for t in finished
            ],
        }  # fmt: skip
    results_path.write_text(json.dumps(results, indent=0, sort_keys=True))
    r = grid_verdict(name, preset_rows(results[study_name]))
    print(study_name, r.prediction, r.verdict, flush=True)


def preset_rows(stored: dict) -> list[dict]:
    return [
        {
            "max_lr": a,
            "wd": w,
            "seed": s,
            "status": "completed" if ok else "diverged",
            "best_val_acc": v if ok else math.nan,
        }
        for a, w, s, ok, v in stored["rows"]
    ]


def _ci(r) -> str:
    if r.get("slope") is None:
        return "-"
    lo, hi = r["slope_ci"]
    return f"{r['slope']:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def table() -> None:
    """Markdown: each grid's verdict next to the two preset replicates', and their agreement."""
    import json

    presets = (
        json.loads((OUT / "presets.json").read_text()) if (OUT / "presets.json").exists() else {}
    )
    print(
        "| task | design | runs | verdict | slope [90%] | dead lr levels | agrees with the grid |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, task in TASKS.items():
        _, rows = read_grid(OUT / f"{name}.csv")
        g = grid_verdict(name, rows).as_dict()
        tag = " (held out)" if task.held_out else ""
        dead = lambda r: ", ".join(f"{x:.3g}" for x in r["dead_levels"]) or "-"  # noqa: E731
        flat = (
            f"; flat {g['flat_range'][0]:.2g}..{g['flat_range'][1]:.2g}" if g["flat_range"] else ""
        )
        print(
            f"| {name}{tag} | dense grid | {len(rows)} | {g['prediction']}{flat} | {_ci(g)} | {dead(g)} | |"
        )
        for seeds in PRESET_SEEDS:
            stored = presets.get(f"{name}-seeds{seeds.replace(',', '')}")
            if stored is None:
                continue
            rows = preset_rows(stored)
            r = {**grid_verdict(name, rows).as_dict(), "runs": len(rows)}
            print(
                f"| | sweep=balance, seeds {seeds} | {r['runs']} | {r['prediction']} | {_ci(r)} | "
                f"{dead(r)} | {_agreement(g, r)}; {(stored['design'] or {}).get('stop', '')} |"
            )


def _agreement(g: dict, r: dict) -> str:
    same = "same prediction" if g["prediction"] == r["prediction"] else "other prediction"
    if g.get("slope") is None or r.get("slope") is None:
        return same
    sign = "same sign" if (g["slope"] > 0) == (r["slope"] > 0) else "other sign"
    overlap = g["slope_ci"][0] <= r["slope_ci"][1] and r["slope_ci"][0] <= g["slope_ci"][1]
    return f"{same}, {sign}, intervals {'overlap' if overlap else 'disjoint'}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grid")
    g.add_argument("task", choices=[*TASKS, "all"])
    g.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    sub.add_parser("verdicts")
    sub.add_parser("table")
    pr = sub.add_parser("preset")
    pr.add_argument("task", choices=[*TASKS, "all"])
    pr.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    a = p.parse_args()
    names = list(TASKS) if getattr(a, "task", "") == "all" else [getattr(a, "task", "")]
    if a.cmd == "grid":
        for name in names:
            build_grid(name, a.workers)
    elif a.cmd == "preset":
        for seeds in PRESET_SEEDS:  # one replicate of every task first
            for name in names:
                preset(name, a.workers, seeds)
    elif a.cmd == "table":
        table()
    else:
        verdicts()


if __name__ == "__main__":
    main()
