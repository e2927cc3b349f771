"""The README's Quick start is what CI and users run; the tests run it too."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from .conftest import ROOT


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_quick_start_has_exactly_two_commands_demo_and_test():
    assert quick_start_commands() == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = quick_start_commands()[1]
    assert any(line.strip() == test_command for line in ci.splitlines())


def test_make_test_runs_pytest_after_setting_up():
    dry = subprocess.run(
        ["make", "-n", "test", "VENV=/nonexistent-venv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "-m venv /nonexistent-venv" in dry and "pip install" in dry and "-m pytest" in dry


@pytest.mark.slow
def test_make_demo_runs_the_main_job(tmp_path):
    """``make demo`` in its cheap form: the same target (range test -> search -> balance study -> reports), short runs."""
    venv = os.path.dirname(os.path.dirname(sys.executable))
    db = f"sqlite:///{tmp_path / 'optuna.db'}"
    # no pruning in the search, so all 3 trials complete and its LR x WD map has points (rungs: test_sweeper.py)
    search = "SEARCH_ARGS=hydra.sweeper.n_trials=3 hydra/sweeper/supersweep_scheduler=full hydra/sweeper/supersweep_pruner=none"
    # the adaptive design at a budget of 15: a pilot per level, the 3 x 4 x 1 grid, then it stops
    balance = "BALANCE_ARGS=hydra.sweeper.space.lr_levels=[-1,-0.5,0] 'wd=choice(1e-5,1e-4,1e-3,1e-2)' 'seed=choice(0)' hydra.sweeper.scheduler.max_runs=15"
    report_args = f"REPORT_ARGS=storage={db} images=false"
    make = [
        "make",
        "demo",
        f"VENV={venv}",
        f"DEMO_DIR={tmp_path}",
        f"ARGS=epochs=2 hydra.sweeper.storage={db}",
        search,
        balance,
        report_args,
    ]
    p = subprocess.run(make, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    assert "range test: suggested max_lr" in out and re.search(r"trial \d \(3/3\) completed", out)
    assert "balance design: pilot 1: lr levels" in out and "balance design: stopped: " in out
    assert "sweep done: " in out and "report: python -m tasks.report sweep_dir=" in out
    for part in ("search", "balance"):
        assert (
            f"{tmp_path / part / 'report' / 'report.html'}" in out
            and (tmp_path / part / "optimization_results.yaml").is_file()
        )
    assert f"optuna-dashboard {db}" in out and "regularization balance: " in out
    balance_report = json.loads((tmp_path / "balance" / "report" / "report.json").read_text())
    assert sum(balance_report["trials"].values()) <= 15
    assert len(balance_report["balance"]["levels"]) >= 3
    # the last lines: the balance study's recommendation (or why none) and the search's pick
    # judged against its band
    assert re.search(r"^(recommendation: use max_lr=|.*No recommendation)", out, re.M) or (
        balance_report["recommendation"] is None
    )
    ours = [x for x in p.stdout.strip().splitlines() if not x.startswith("make")]  # make[1]: ...
    assert re.search(r"(one answer|two answers|nothing to compare)", ours[-1]), ours[-3:]
