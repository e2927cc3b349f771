"""``pip install .`` (not editable) gives a working package: configs ship as package data and
the apps run from any directory, plugin included."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert p.returncode == 0, f"{cmd}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


@pytest.mark.slow
def test_wheel_installs_and_runs_from_an_unrelated_directory(tmp_path, data_dir):
    src, dist = (
        tmp_path / "src",
        tmp_path / "dist",
    )  # a clean copy: setuptools reuses a build/ dir it finds
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".*", "build", "*.egg-info", "multirun", "outputs", "__pycache__", "test-artifacts"
        ),
    )
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)])
    wheel = next(dist.glob("supersweep-*.whl"))
    # a fresh venv; its dependencies (torch & co., GBs) are borrowed from this one by a .pth
    # path line, which (unlike a site dir) runs no .pth files there, so the editable install stays out
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = str(venv / "bin" / "python")
    fresh_site = run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    ).stdout.strip()
    Path(fresh_site, "borrowed_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "-q", str(wheel)])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "SUPERSWEEP_DATA": str(data_dir)}
    env.pop("PYTHONPATH", None)
    where = run(
        [
            py,
            "-c",
            "import conf, tasks, training; print(tasks.__file__, training.__file__, conf.__file__)",
        ],
        cwd=elsewhere,
        env=env,
    ).stdout
    assert all(p.startswith(fresh_site) for p in where.split()), where
    run(
        [py, "-m", "tasks.train", "epochs=1", "threads=1", "hydra.run.dir=out"],
        cwd=elsewhere,
        env=env,
    )
    summary = json.loads((elsewhere / "out" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 1
    # the sweeper plugin is found by Hydra's scan of the installed hydra_plugins
    db = f"sqlite:///{tmp_path / 'o.db'}"
    run(
        [
            py,
            "-m",
            "tasks.train",
            "-m",
            "hydra/sweeper=supersweep",
            "epochs=1",
            f"hydra.sweeper.storage={db}",
            "hydra.sweeper.n_trials=1",
            "wd=1e-4,1e-3",
            "hydra.sweep.dir=sweep",
        ],
        cwd=elsewhere,
        env=env,
    )
    assert (elsewhere / "sweep" / "optimization_results.yaml").is_file()
