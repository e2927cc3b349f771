"""A job as a typed value: what one run of a trial trains with.

The sweeper keeps every fact about a job typed (the trial it belongs to, its budget step, its
subdir, the params, the overrides every job shares) and makes override strings in one place,
:meth:`Job.to_overrides`, at the edge where the launcher takes them. Nothing parses them back.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser

from sweeper._space import format_value
from sweeper.record import TrialKey
from sweeper.trial_ref import TrialRef


@dataclass(frozen=True)
class Fixed:
    """One override every job of the sweep gets, as the user wrote it, with its key parsed once."""

    key: str  # ``key_or_group`` as Hydra parses it (``wd``, ``data``, ``hydra.launcher.x``)
    line: str

    @classmethod
    def parse(cls, lines: list[str]) -> list[Fixed]:
        parsed = OverridesParser.create().parse_overrides(lines)
        return [cls(o.key_or_group, str(o.input_line)) for o in parsed]


# trial user attr: settings every run of the trial trains with (e.g. an enqueued replicate's
# seed), on top of the sweep's fixed overrides
RUN_SETTINGS = TrialKey.RUN_SETTINGS


@dataclass(frozen=True)
class Job:
    """One run of a trial: full run (``step`` = last) or a shorter budget step before it."""

    trial: TrialRef
    step: int  # index into the budget's steps; 0 for a plain full run
    subdir: str  # under hydra.sweep.dir: never shared by two jobs, across workers and resumes
    params: dict[str, Any]  # searched and derived values (e.g. wd from lr_x_wd)
    fixed: tuple[Fixed, ...]  # the sweep's own overrides
    settings: dict[str, Any] = field(default_factory=dict)  # the budget's: replace fixed keys
    quiet: tuple[str, ...] = ()  # overrides that keep the job's log lines off the console

    @property
    def number(self) -> int:
        return self.trial.number

    def replay(self) -> list[str]:
        """The overrides that reproduce this run by hand (no sweeper bookkeeping)."""
        fixed = [f.line for f in self.fixed if f.key not in self.settings]
        added = {f.key for f in self.fixed if f.line.startswith("+") and f.key in self.settings}
        values = {**self.params, **self.settings}
        # a setting that replaces a key the sweep added (+seed=0) adds it too
        return [
            *fixed,
            *(f"{'+' if k in added else ''}{k}={format_value(v)}" for k, v in values.items()),
        ]

    def to_overrides(self) -> list[str]:
        """The only place a job's override strings are made."""
        return [
            *self.replay(),
            *self.trial.to_overrides(),
            *self.quiet,
            f"hydra.sweep.subdir={self.subdir}",
        ]


@dataclass(frozen=True)
class Worker:
    """The sweep process that asked a trial. Stored with the trial as typed fields
    (``worker_host``, ``worker_pid``) and, for people and the dashboard, as ``worker``."""

    host: str
    pid: int

    @classmethod
    def this(cls) -> Worker:
        return cls(socket.gethostname(), os.getpid())

    def as_attrs(self) -> dict[str, Any]:
        return {
            TrialKey.WORKER: str(self),
            TrialKey.WORKER_HOST: self.host,
            TrialKey.WORKER_PID: self.pid,
        }

    @classmethod
    def of(cls, user_attrs: dict[str, Any]) -> Worker | None:
        """The worker stored with a trial; None for a trial that has none (it is then judged by
        its heartbeat only)."""
        host, pid = user_attrs.get(TrialKey.WORKER_HOST), user_attrs.get(TrialKey.WORKER_PID)
        return cls(host, pid) if isinstance(host, str) and isinstance(pid, int) else None

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"
