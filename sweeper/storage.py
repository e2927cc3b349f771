"""Optuna storage from a URL: SQLite tuned for several local writers, secrets never printed."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import optuna
from sqlalchemy.engine import make_url

DEFAULT_DB = Path("multirun") / "optuna.db"
SQLITE_TIMEOUT_S = 60  # a worker waits this long for another's write lock instead of failing


def default_url() -> str:
    """One SQLite file under ``multirun/`` (absolute, so jobs in any CWD find it)."""
    DEFAULT_DB.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_DB.resolve()}"


@lru_cache(maxsize=8)
def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage; SQLite gets a busy timeout so parallel workers never lose a write.

    Cached per URL: jobs run in the sweeper's process reuse its engine instead of
    building one per trial."""
    kwargs = {}
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def redact(url: str) -> str:
    """The URL with any password hidden, for logs and results files."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<storage url>"
