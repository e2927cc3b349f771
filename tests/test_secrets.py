"""No secret on disk or on the console: a PostgreSQL study whose password lives in an
environment variable, through sweeps (compose cache on and off, rung mode, two workers)
and the report, on a real server on loopback (issue 13)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from .services import postgres_server
from .test_sweeper import TINY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server() as url:
        yield url


def run(cmd: list[str], cwd: Path, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(TINY).parents[2]), "OPTUNA_DB": url}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def tiny(tmp: Path, study: str, *args: str) -> list[str]:
    return [
        sys.executable,
        TINY,
        "-m",
        "hydra/sweeper=supersweep",
        "hydra.sweeper.storage=${oc.env:OPTUNA_DB}",
        f"hydra.sweeper.study_name={study}",
        f"hydra.sweep.dir={tmp / study}",
        "x=interval(0, 1)",
        *args,
    ]


def files_holding(root: Path, secret: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_no_file_or_console_line_holds_the_password(pg_url, tmp_path):
    password = make_url(pg_url).password
    assert password and len(password) >= 16
    outputs = []
    for study, extra in [
        ("cache_on", ["hydra.sweeper.n_trials=4", "y=1,2"]),
        ("cache_off", ["hydra.sweeper.n_trials=3", "hydra.sweeper.jobs.compose_cache=false"]),
        (
            "rungs",
            [
                "hydra.sweeper.n_trials=3",
                "epochs=3",
                "hydra/sweeper/supersweep_scheduler=rungs",
                "hydra.sweeper.scheduler.rungs=[1]",
                "hydra/sweeper/supersweep_pruner=median",
            ],
        ),
    ]:
        p = run(tiny(tmp_path, study, *extra), tmp_path, pg_url)
        assert p.returncode == 0, p.stderr
        outputs.append(p.stdout + p.stderr)
    workers = [
        subprocess.Popen(
            tiny(tmp_path, "workers", "hydra.sweeper.n_trials=6"),
            cwd=tmp_path,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(Path(TINY).parents[2]), "OPTUNA_DB": pg_url},
        )
        for _ in range(2)
    ]
    for w in workers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
        outputs.append(out + err)
    for args in (
        ["sweep_dir=" + str(tmp_path / "cache_on")],
        ["study_name=workers", "storage=${oc.env:OPTUNA_DB}"],
    ):
        p = run(
            [
                sys.executable,
                "-m",
                "tasks.report",
                *args,
                f"hydra.run.dir={tmp_path / 'report' / args[0][:9]}",
                "images=false",
            ],
            tmp_path,
            pg_url,
        )
        assert p.returncode == 0, p.stderr
        assert 'optuna-dashboard "$OPTUNA_DB"' in p.stdout
        outputs.append(p.stdout + p.stderr)
    assert (tmp_path / "cache_on" / "1" / ".hydra" / "hydra.yaml").is_file()
    assert files_holding(tmp_path, password) == []
    assert not [o for o in outputs if password in o]


def test_a_literal_password_is_refused_before_any_job(pg_url, tmp_path):
    password = make_url(pg_url).password
    cmd = [
        sys.executable,
        TINY,
        "-m",
        "hydra/sweeper=supersweep",
        f"hydra.sweeper.storage={pg_url}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "x=interval(0, 1)",
    ]
    p = run(cmd, tmp_path, pg_url)
    last = p.stderr.strip().splitlines()[-1]
    assert (
        p.returncode == 2
        and last.startswith("error: hydra.sweeper.storage=postgresql://ss:***@")
        and "${oc.env:OPTUNA_DB}" in last
    )
    assert password not in p.stderr + p.stdout
    assert not (tmp_path / "sweep" / "0").exists()
