"""ruff (configured in pyproject.toml) passes on the whole tree."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT


def test_ruff_check_passes():
    p = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
