"""Stop signals: SIGTERM and SIGUSR2 (how SLURM and submitit warn a job before preempting or
requeueing it) stop a run at the next step boundary, where it writes its checkpoint; then
the signal goes on to whoever handled it before (submitit's own handler requeues the job;
by default the process ends as the signal says). Run again, the job resumes from there.
"""

from __future__ import annotations

import os
import signal
import threading
from types import TracebackType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGUSR2)
_HANDED_ON = (
    threading.Event()
)  # this process checkpointed and handed a stop signal on: its exit is the requeue's


def handed_on() -> bool:
    """Whether a run in this process stopped on a signal and handed it on (a requeue is under way):
    a job wrapper must then let the exit through rather than call it the trial's failure."""
    return _HANDED_ON.is_set()


class StopSignals:
    """``with StopSignals() as stop:`` ``stop()`` is the name of a stop signal received, or None."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self.previous: dict[signal.Signals, Any] = {}

    def __call__(self) -> str | None:
        return self.received.name if self.received is not None else None

    def __enter__(self) -> StopSignals:
        if (
            threading.current_thread() is threading.main_thread()
        ):  # handlers live in the main thread only
            for s in SIGNALS:
                self.previous[s] = signal.signal(s, self._note)
        return self

    def _note(self, signum: int, frame: Any) -> None:
        self.received = signal.Signals(signum)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for s, handler in self.previous.items():  # kept: pass_on() hands the signal to them
            signal.signal(s, handler)

    def pass_on(self) -> None:
        """Deliver the received signal as if this had never caught it (call after the checkpoint)."""
        s = self.received
        if s is None:
            return
        handler = self.previous.get(s, signal.SIG_DFL)
        signal.signal(s, handler)
        _HANDED_ON.set()
        if callable(handler):
            handler(s, None)
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), s)  # the default action: the process ends by this signal
