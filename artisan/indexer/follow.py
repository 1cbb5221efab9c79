"""The live indexer as scheduled jobs: catching up with the head, pruning, refreshing metrics.

The indexer service adds its jobs to the process's one scheduler (``artisan.scheduling``;
``build_scheduler`` is re-exported here), beside the other services' jobs. The catch-up job
runs every ``poll_interval`` seconds, at most one instance at a time, missed runs coalesced
into one; a ``HeadSignal`` (websocket newHeads) runs it at once when a block is announced.
Pruning and the metrics refresh run beside it on their own intervals and connections.

A job never swallows a failure (``ScheduledService``): the first one is kept, the service
stops, and ``wait`` returns so that its owner can report it and exit. Stopping is prompt: the
catch-up job checks the stop flag between steps, and ``interruptible_sleep`` cuts a retry's
backoff short.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler

from artisan.indexer.indexer import Indexer
from artisan.indexer.metrics import IndexerMetrics
from artisan.indexer.pruning import BlockPruner
from artisan.indexer.source import HeadSignal
from artisan.retry import TRANSIENT_ERRORS
from artisan.scheduling import ScheduledService, build_scheduler

__all__ = ["IndexerService", "ServiceIntervals", "build_scheduler", "interruptible_sleep"]

CATCH_UP_JOB = "indexer.catch-up"
PRUNE_JOB = "indexer.prune"
METRICS_JOB = "indexer.metrics"


class ServiceStopping(Exception):
    """Raised out of a backoff sleep once the service is stopping: unwinds the current step."""


def interruptible_sleep(stop: threading.Event) -> Callable[[float], None]:
    """A ``sleep`` for the Indexer's retries that returns early, raising, once ``stop`` is set."""

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise ServiceStopping("the indexer service is stopping")

    return sleep


@dataclass(frozen=True)
class ServiceIntervals:
    """Seconds between runs of each job (the catch-up job also runs on each announced head)."""

    poll: float = 1.0
    prune: float = 60.0
    metrics: float = 5.0


class IndexerService(ScheduledService):
    """Runs one Indexer's live jobs on ``scheduler``; the scheduler and the indexer stay the
    caller's (``stop`` removes this service's jobs, and leaves the scheduler running)."""

    def __init__(
        self,
        indexer: Indexer,
        scheduler: BackgroundScheduler,
        pruner: BlockPruner,
        *,
        stop: threading.Event | None = None,
        intervals: ServiceIntervals | None = None,
        heads: HeadSignal | None = None,
        metrics: IndexerMetrics | None = None,
    ) -> None:
        super().__init__(scheduler, stop=stop)
        self.indexer = indexer
        self.pruner = pruner
        self.intervals = intervals or ServiceIntervals()
        self.heads = heads
        self.metrics = metrics
        self._wake = threading.Event()  # a head was announced while catching up
        self._catching = self.add_job(CATCH_UP_JOB, self._catch_up, self.intervals.poll)
        self.add_job(PRUNE_JOB, self._prune, self.intervals.prune)
        if metrics is not None:
            self.add_job(METRICS_JOB, self._refresh_metrics, self.intervals.metrics)
        if heads is not None:
            self.add_thread("indexer-waker", self._listen)

    def _catch_up(self) -> None:
        """Step until the head is reached and no head was announced meanwhile, or stopping."""
        try:
            while not self.stopping:
                self._wake.clear()
                if self.indexer.step().kind == "idle" and not self._wake.is_set():
                    return
        except ServiceStopping:
            return

    def _prune(self) -> None:
        self.pruner.prune()

    def _listen(self) -> None:
        """Run the catch-up job at once on each announced head (the interval still polls)."""
        assert self.heads is not None
        while not self.stopping:
            if self.heads.wait(0.2) and not self.stopping:
                self._wake.set()  # a run in progress loops once more; otherwise run one now
                if not self._catching.locked():
                    self.run_now(CATCH_UP_JOB)

    def _refresh_metrics(self) -> None:
        """Head and lag as of now, also while idle (progress updates only come with blocks)."""
        assert self.metrics is not None
        try:
            head = self.indexer.source.head_number()
        except TRANSIENT_ERRORS:
            return  # counted by MeteredSource; the catch-up job retries and reports its own
        self.metrics.head.set(head)
        self.metrics.lag.set(max(0, head - self.indexer.checkpoint.number))
