"""What the loop tells the world, as events: observers (the progress line, the trackers' tags)
receive them and the loop knows none of them by name. A tracker call can wait on a network; it
runs on the tags' own thread, never on the loop's path (a slow MLflow server slows no sweep)."""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

from training.tracking import tag_decision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decided:
    """The scheduler's decision on a finished run, in its tracker word (kept, promoted, ...)."""

    job_dir: Path
    word: str


@dataclass(frozen=True)
class Finished:
    """A trial was told: its status, values and why; the study's told trials (every worker's),
    the sweep's (or the current stage's) planned total and the scheduler's stage."""

    number: int
    status: str
    values: list[float] | None
    reason: str | None
    told: int
    total: int | None
    stage: str
    paused: int = 0  # trials of this sweep waiting, open, for a promotion (ASHA)


Event = Decided | Finished


class Observer:
    def notify(self, event: Event) -> None:
        """One event, in the order the loop made them."""

    def close(self) -> None:
        """The sweep's loop ended (however): finish what is pending."""


class TrackerTags(Observer):
    """Each decision as the job's MLflow tag and TensorBoard text (``tag_decision``), written on
    a thread of its own; ``close`` waits for the tags still queued (at most ``drain_s``)."""

    def __init__(self, drain_s: float = 60.0) -> None:
        self.drain_s = drain_s
        self.todo: queue.Queue[Decided | None] = queue.Queue()
        self.thread = threading.Thread(target=self._work, name="tracker-tags", daemon=True)
        self.thread.start()

    def notify(self, event: Event) -> None:
        if isinstance(event, Decided):
            self.todo.put(event)

    def close(self) -> None:
        self.todo.put(None)
        self.thread.join(self.drain_s)

    def _work(self) -> None:
        while (event := self.todo.get()) is not None:
            warning = tag_decision(event.job_dir, event.word)
            if warning:
                log.warning(warning)
