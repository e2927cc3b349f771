"""A real single-node SLURM cluster for tests, in a temp dir the tests own, on loopback.

munged (its own key and socket), MariaDB (a fresh data dir) for slurmdbd, slurmdbd,
slurmctld and slurmd, each started in the foreground as a child of the test process and
stopped, by PID, when the block ends. Clients (``sbatch``, ``sacct``, ``scancel``, submitit)
find the cluster through ``SLURM_CONF``, which the block sets and restores.

It needs Debian's ``slurm-wlm``, ``slurmdbd``, ``munge`` and ``mariadb-server`` (``.ci/run``
installs them) and root (slurmd starts jobs as their user); without either the tests that
need it are skipped with one line saying why.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from .services import _free_port

DAEMONS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd")
CLIENTS = (
    "mariadb-install-db",
    "mariadb",
    "sbatch",
    "sacct",
    "scancel",
    "sinfo",
    "squeue",
    "scontrol",
)


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "the SLURM tests need root (slurmd starts jobs as their user; munged and MariaDB run as root here)"
    lost = [
        d
        for d in DAEMONS + CLIENTS
        if shutil.which(d, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/bin") is None
    ]
    if lost:
        return f"SLURM tests: {', '.join(lost)} not installed (.ci/run installs slurm-wlm slurmdbd munge mariadb-server)"
    return None


def _wait(check, what: str, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s; its log ends:\n{tail}")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def _daemon(cmd: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """A daemon in the foreground, as our child: stopped with SIGTERM (then SIGKILL) by its PID."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


def _write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@contextmanager
def slurm_cluster() -> Iterator[dict[str, str]]:
    """Yields the environment (``SLURM_CONF`` set) that reaches the cluster; all daemons stop after."""
    why = _missing()
    if why:
        pytest.skip(why)
    home = Path(tempfile.mkdtemp(prefix="supersweep-slurm-"))
    node = socket.gethostname().split(".")[0]
    ports = {k: _free_port() for k in ("db", "dbd", "ctld", "slurmd")}
    env = {
        **os.environ,
        "SLURM_CONF": str(home / "slurm.conf"),
        "PATH": f"{os.environ.get('PATH', '')}:/usr/sbin",
    }
    for d in ("munge", "mysql", "state", "spool", "log"):
        (home / d).mkdir(mode=0o700)
    munge_socket = home / "munge" / "munge.socket"
    db_password = secrets.token_hex(12)
    auth = f"AuthType=auth/munge\nAuthInfo=socket={munge_socket}\n"
    _write(
        home / "slurm.conf",
        f"""ClusterName=supersweep
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ports["ctld"]}
SlurmdPort={ports["slurmd"]}
SlurmUser=root
SlurmdUser=root
{auth}StateSaveLocation={home / "state"}
SlurmdSpoolDir={home / "spool"}
SlurmctldPidFile={home / "slurmctld.pid"}
SlurmdPidFile={home / "slurmd.pid"}
SlurmctldLogFile={home / "log" / "slurmctld.log"}
SlurmdLogFile={home / "log" / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={ports["dbd"]}
AccountingStoragePass={munge_socket}
MailProg=/bin/true
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobRequeue=1
SchedulerType=sched/backfill
MinJobAge=600
KillWait=5
NodeName={node} NodeAddr=127.0.0.1 CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
""",
    )
    _write(
        home / "slurmdbd.conf",
        f"""{auth}DbdHost={node}
DbdAddr=127.0.0.1
DbdPort={ports["dbd"]}
SlurmUser=root
LogFile={home / "log" / "slurmdbd.log"}
PidFile={home / "slurmdbd.pid"}
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={ports["db"]}
StorageUser=slurm
StoragePass={db_password}
StorageLoc=slurm_acct_db
""",
        0o600,
    )
    key = home / "munge" / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o400)
    logs = home / "log"
    try:
        with ExitStack() as stack:
            munged = [
                "munged",
                "--foreground",
                "--force",
                f"--socket={munge_socket}",
                f"--key-file={key}",
                f"--pid-file={home / 'munge' / 'pid'}",
                f"--seed-file={home / 'munge' / 'seed'}",
                f"--log-file={logs / 'munged.log'}",
            ]
            stack.enter_context(_daemon(munged, logs / "munged.out", env))
            _wait(munge_socket.exists, "munged", logs / "munged.log")
            subprocess.run(
                [
                    "mariadb-install-db",
                    "--user=root",
                    f"--datadir={home / 'mysql'}",
                    "--auth-root-authentication-method=socket",
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            db_socket = home / "mysql.sock"
            mariadbd = [
                "mariadbd",
                "--no-defaults",
                "--user=root",
                f"--datadir={home / 'mysql'}",
                f"--socket={db_socket}",
                f"--port={ports['db']}",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                f"--pid-file={home / 'mysql.pid'}",
                "--innodb-buffer-pool-size=64M",
                "--innodb-lock-wait-timeout=900",
            ]
            stack.enter_context(_daemon(mariadbd, logs / "mariadb.log", env))
            _wait(lambda: _listening(ports["db"]), "MariaDB", logs / "mariadb.log")
            sql = (
                f"CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{db_password}'; "
                "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
            )
            subprocess.run(
                ["mariadb", "--no-defaults", f"--socket={db_socket}", "-u", "root", "-e", sql],
                check=True,
                capture_output=True,
                timeout=60,
            )
            stack.enter_context(_daemon(["slurmdbd", "-D"], logs / "slurmdbd.out", env))
            _wait(lambda: _listening(ports["dbd"]), "slurmdbd", logs / "slurmdbd.log")
            stack.enter_context(_daemon(["slurmctld", "-D", "-i"], logs / "slurmctld.out", env))
            _wait(lambda: _listening(ports["ctld"]), "slurmctld", logs / "slurmctld.log")
            stack.enter_context(_daemon(["slurmd", "-D", "-N", node], logs / "slurmd.out", env))
            _wait(lambda: _node_idle(env), "slurmd (node idle)", logs / "slurmd.log")
            saved = os.environ.get("SLURM_CONF")
            os.environ["SLURM_CONF"] = env["SLURM_CONF"]
            try:
                yield env
            finally:
                _cancel_all(env)
                if saved is None:
                    os.environ.pop("SLURM_CONF", None)
                else:
                    os.environ["SLURM_CONF"] = saved
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _node_idle(env: dict[str, str]) -> bool:
    p = subprocess.run(
        ["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True, timeout=30
    )
    return p.returncode == 0 and p.stdout.strip() == "idle"


def _cancel_all(env: dict[str, str]) -> None:
    """The tests' own jobs (this cluster runs nothing else) end before slurmd does."""
    subprocess.run(["scancel", "--full", "--user=root"], env=env, capture_output=True, timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        p = subprocess.run(
            ["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True, timeout=30
        )
        if p.returncode != 0 or not p.stdout.strip():
            return
        time.sleep(0.5)
