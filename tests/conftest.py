from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = str(ROOT / "conf")


def config_options(group: str) -> list[str]:
    """Every option of a config group, read from conf/ so new options are tested too."""
    return sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory) -> Path:
    """One data cache for the whole session, never the user's ~/.cache."""
    path = tmp_path_factory.mktemp("data")
    os.environ["SUPERSWEEP_DATA"] = str(path)
    return path
