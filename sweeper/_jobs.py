"""A job's own exit is its trial's failure, not the end of the sweep.

Hydra's launchers catch a job's ``Exception`` but not ``SystemExit`` (a task's
``sys.exit(2)`` after a one-line config error) or ``KeyboardInterrupt``: either ends the
whole sweep. :class:`GuardedTask` turns both into :class:`JobExit`, an ordinary failure of
that trial, except a ``KeyboardInterrupt`` from a real Ctrl-C (a SIGINT that
:func:`watch_ctrl_c` saw), which still stops the sweep, and the exit of a preempted run
that checkpointed and handed its signal on (submitit requeues the job by exiting).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from training.preemption import handed_on

INTERRUPTED = threading.Event()  # set by a SIGINT to this process while a sweep runs


class JobExit(RuntimeError):
    """A job exited or raised KeyboardInterrupt by itself: its trial fails, the sweep goes on."""


class TrialTimeout(RuntimeError):
    """The trial ran past ``hydra.sweeper.jobs.trial_timeout_s``: it fails, the sweep goes on."""


class _Alarm(BaseException):
    """Raised inside the job when its time is up: not an ``Exception``, so a job's own
    ``except Exception: pass`` does not swallow it (``GuardedTask`` turns it into
    :class:`TrialTimeout`)."""


class GuardedTask:
    """The task function as launchers run it (a class, so launchers that pickle it can), with
    the trial's time limit (``timeout_s``) enforced in the process that runs the job."""

    def __init__(self, task: Callable[[Any], Any], timeout_s: float | None = None) -> None:
        self.task, self.timeout_s = task, timeout_s

    def __call__(self, cfg: Any) -> Any:
        try:
            with time_limit(self.timeout_s):
                return self.task(cfg)
        except SystemExit as e:
            if (
                handed_on()
            ):  # preempted: checkpointed, and submitit's handler requeues the job by exiting
                raise
            raise JobExit(f"the job exited (sys.exit({e.code!r}))") from None
        except KeyboardInterrupt:
            if INTERRUPTED.is_set():  # Ctrl-C: stop the sweep
                raise
            raise JobExit(
                "the job raised KeyboardInterrupt itself (no Ctrl-C reached the sweep)"
            ) from None


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TrialTimeout` out of the job after ``seconds`` (SIGALRM: a sleep, a stuck data
    loader or a long step is interrupted at its next Python instruction), and again every
    second after that until the job is out (a job that catches even a ``BaseException`` and
    goes on is interrupted again). Only the main thread of a process gets signals: a job a
    launcher runs in another thread has no limit here."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise _Alarm(f"the trial ran past hydra.sweeper.jobs.trial_timeout_s={seconds:g}")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    except _Alarm as e:
        raise TrialTimeout(str(e)) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def watch_ctrl_c() -> Iterator[None]:
    """Record a SIGINT before Python's default handler raises KeyboardInterrupt. A handler
    someone else installed (or SIGINT ignored, as in a shell's background job) is left alone."""
    INTERRUPTED.clear()
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        INTERRUPTED.set()
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
