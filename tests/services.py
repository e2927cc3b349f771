"""Real services for tests, started in temp dirs the tests own and stopped after them.

PostgreSQL: Debian's server binaries (``.ci/run`` installs ``postgresql``), a fresh cluster
on loopback with a random password, run as the ``postgres`` user when the tests run as
root (the server refuses root). Without the binaries the tests that need it are skipped
with one line.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """``postgresql://ss:<password>@127.0.0.1:<port>/optuna`` of a server that lives as long as the block."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bins:
        pytest.skip(
            "PostgreSQL server binaries not installed (.ci/run installs Debian's postgresql)"
        )
    bindir = bins[-1].parent
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    home = Path(
        tempfile.mkdtemp(prefix="supersweep-pg-")
    )  # under /tmp: the postgres user can reach it
    data, password, port = home / "data", secrets.token_hex(12), _free_port()
    (home / "pw").write_text(password)
    if as_root:
        shutil.chown(home, "postgres")
        shutil.chown(home / "pw", "postgres")
    sh = lambda *cmd: subprocess.run(
        [*run_as, *map(str, cmd)], check=True, capture_output=True, text=True, timeout=120
    )  # noqa: E731
    try:
        sh(
            bindir / "initdb",
            "-D",
            data,
            "-U",
            "ss",
            f"--pwfile={home / 'pw'}",
            "--auth=scram-sha-256",
        )
        sh(
            bindir / "pg_ctl",
            "-D",
            data,
            "-l",
            home / "log",
            "-w",
            "-o",
            f"-p {port} -k {home} -c listen_addresses=127.0.0.1",
            "start",
        )
        try:
            env = {**os.environ, "PGPASSWORD": password}
            subprocess.run(
                [bindir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "ss", "optuna"],
                check=True,
                env=env,
                capture_output=True,
                timeout=60,
            )
            yield f"postgresql://ss:{password}@127.0.0.1:{port}/optuna"
        finally:
            sh(bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(home, ignore_errors=True)
