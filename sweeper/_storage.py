"""Optuna storage from a URL: SQLite tuned for several local writers, secrets never printed."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import optuna
import sqlalchemy
from sqlalchemy.engine import make_url

from training.errors import UserError

DEFAULT_DB = Path("multirun") / "optuna.db"
SQLITE_TIMEOUT_S = 60  # a worker waits this long for another's write lock instead of failing


def default_url(create: bool = True) -> str:
    """One SQLite file under ``multirun/`` (absolute, so jobs in any CWD find it); ``create``
    makes its dir (a sweep writes there; a report only reads, and leaves nothing behind)."""
    if create:
        DEFAULT_DB.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_DB.resolve()}"


class StorageError(UserError):
    """The study storage cannot be opened or used; the message says why in one line (password hidden)."""


def describe_fault(url: str, e: BaseException) -> str:
    """One line for a storage fault: the URL without its password, the error's first line."""
    cause = e.__cause__ or e  # Optuna wraps the driver's error: the driver says what happened
    first = (str(cause).strip().splitlines() or [""])[0][:300]
    return f"the study storage {redact(url)} cannot be used ({type(cause).__name__}: {first})"


@lru_cache(maxsize=8)
def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage; SQLite gets a busy timeout so parallel workers never lose a write.

    Cached per URL: jobs run in the sweeper's process reuse its engine instead of
    building one per trial. Any fault (a garbage URL, a missing driver, a server that does
    not answer, a file that is not a database, an old schema) is a :class:`StorageError`."""
    try:
        return _open(url)
    except StorageError:
        raise
    except Exception as e:  # sqlalchemy, the driver and optuna raise many kinds
        raise StorageError(describe_fault(url, e)) from None


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL on disk; None for other URLs and in-memory SQLite."""
    if not url.startswith("sqlite"):
        return None
    try:
        database = make_url(url).database
    except Exception:
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _open(url: str) -> optuna.storages.RDBStorage:
    if not url.startswith("sqlite"):
        return _create(url, None)
    database = make_url(url).database
    on_disk = bool(database) and database != ":memory:"
    if database and on_disk:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    storage = _create(url, {"connect_args": {"timeout": SQLITE_TIMEOUT_S}})
    if on_disk:
        _fast_commits(storage.engine)
    return storage


def _create(url: str, engine_kwargs: dict | None, attempts: int = 10) -> optuna.storages.RDBStorage:
    """RDBStorage, tolerating a worker started at the same moment that creates the tables
    first (the loser's schema insert fails with IntegrityError / 'database is locked')."""
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as e:
            # two workers creating the schema at once: an IntegrityError anywhere; on SQLite also
            # an OperationalError (locked, or the other's table already there); a server that
            # does not answer is an OperationalError of another database and fails at once
            racing = isinstance(e, sqlalchemy.exc.IntegrityError) or url.startswith("sqlite")
            if not racing or attempt == attempts - 1:  # only the creation race is worth a retry
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _fast_commits(engine: sqlalchemy.engine.Engine) -> None:
    """WAL journal + synchronous=NORMAL: a commit no longer waits for an fsync (a sweep makes
    ~10 per trial), readers never block the writer, and the file stays consistent on a crash."""

    def on_connect(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    sqlalchemy.event.listen(engine, "connect", on_connect)
    engine.dispose()  # connections opened before the listener are replaced


@dataclass(frozen=True)
class StorageRef:
    """A sweep's storage: as it was given (``source``: ``${oc.env:VAR}`` stays a placeholder, for
    job overrides and results files) and resolved (``url``). Whether it holds a password is a
    field, decided once from the URL itself."""

    source: str
    url: str
    has_password: bool

    @classmethod
    def of(cls, source: str | None, url: str) -> StorageRef:
        return cls(source or url, url, _password(url) is not None)

    @property
    def shown(self) -> str:
        """For logs and files: the URL with its password hidden."""
        return redact(self.url)

    @property
    def source_is_safe(self) -> bool:
        """The source may be written to a file: an env reference, or a URL without a password."""
        return ENV_REFERENCE.fullmatch(self.source.strip()) is not None or not self.has_password

    def refuse_literal_password(self) -> None:
        """Hydra writes the command line into multirun.yaml: a literal password would be on disk."""
        if literal_password(self.source):
            raise StorageError(
                f"hydra.sweeper.storage={redact(self.source)} holds a literal password, which would be written into every job's "
                "files and printed; put the URL in an environment variable and pass hydra.sweeper.storage='${oc.env:OPTUNA_DB}'."
            )


def _password(url: str) -> str | None:
    try:
        password = make_url(url).password
        return None if password is None else str(password)
    except Exception:
        return None


ENV_REFERENCE = re.compile(r"\$\{oc\.env:([A-Za-z_][A-Za-z0-9_]*)\}")


def literal_password(raw: str | None) -> bool:
    """A storage URL written with its password in it (not behind ``${oc.env:VAR}``)."""
    if not raw or "${" in raw:
        return False
    return _password(raw) is not None


def resolve_reference(raw: str) -> str:
    """A stored storage reference made usable: ``${oc.env:VAR}`` is read from the environment
    (nothing else in it is evaluated); a plain URL is returned as it is."""
    m = ENV_REFERENCE.fullmatch(raw.strip())
    if m is None:
        return raw
    if m.group(1) not in os.environ:
        raise StorageError(
            f"the study storage is {raw}, and the environment variable {m.group(1)} is not set here."
        )
    return os.environ[m.group(1)]


def shown(raw: str, url: str) -> str:
    """How to name a storage on the console: ``"$VAR"`` when it was given as ``${oc.env:VAR}``
    (a command the user can paste), else the URL with its password hidden."""
    m = ENV_REFERENCE.fullmatch(raw.strip())
    return f'"${m.group(1)}"' if m else redact(url)


def redact(url: str) -> str:
    """The URL with any password hidden, for logs and results files."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<storage url>"
