"""The live indexer as scheduled jobs: catching up with the head, pruning, refreshing metrics.

The indexer service adds its jobs to the process's one scheduler (``artisan.scheduling``;
``build_scheduler`` is re-exported here), beside the other services' jobs. The catch-up job
runs every ``poll_interval`` seconds, at most one instance at a time, missed runs coalesced
into one; a ``HeadSignal`` (websocket newHeads) runs it at once when a block is announced.
Pruning and the metrics refresh run beside it on their own intervals and connections.

A job never swallows a failure: the first one is kept, the service stops, and ``wait``
returns so that its owner can report it and exit. Stopping is prompt: the catch-up job checks
the stop flag between steps, and ``interruptible_sleep`` cuts a retry's backoff short.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from artisan.indexer.indexer import Indexer
from artisan.indexer.metrics import IndexerMetrics
from artisan.indexer.pruning import BlockPruner
from artisan.indexer.source import HeadSignal
from artisan.retry import TRANSIENT_ERRORS
from artisan.scheduling import build_scheduler

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


class IndexerService:
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
        self.indexer = indexer
        self.scheduler = scheduler
        self.pruner = pruner
        self.intervals = intervals or ServiceIntervals()
        self.heads = heads
        self.metrics = metrics
        self.failure: BaseException | None = None
        self._stop = stop or threading.Event()  # set to stop: by ``stop``, a failure, a signal
        self._wake = threading.Event()  # a head was announced while catching up
        self._running = threading.Lock()  # held while the catch-up job runs
        self._waker: threading.Thread | None = None

    def start(self) -> None:
        """Add the jobs (the first catch-up at once), and the head listener if there is one."""
        jobs: list[tuple[str, Callable[[], None], float]] = [
            (CATCH_UP_JOB, self._catch_up, self.intervals.poll),
            (PRUNE_JOB, self._guarded(self.pruner.prune), self.intervals.prune),
        ]
        if self.metrics is not None:
            jobs.append((METRICS_JOB, self._guarded(self._refresh_metrics), self.intervals.metrics))
        now = datetime.now(UTC)
        for job_id, run, seconds in jobs:
            # One run at a time, and runs missed while one was running coalesced into one,
            # whatever the scheduler's defaults.
            self.scheduler.add_job(
                run,
                "interval",
                seconds=seconds,
                id=job_id,
                next_run_time=now,
                max_instances=1,
                coalesce=True,
            )
        if self.heads is not None:
            self._waker = threading.Thread(target=self._listen, name="indexer-waker", daemon=True)
            self._waker.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the service is stopping (asked to, or failed); False on timeout."""
        return self._stop.wait(timeout)

    def stop(self) -> None:
        """Stop the jobs: remove them, and wait for a catch-up in progress to end its step."""
        self._stop.set()
        for job in (CATCH_UP_JOB, PRUNE_JOB, METRICS_JOB):
            if self.scheduler.get_job(job) is not None:
                self.scheduler.remove_job(job)
        with self._running:
            pass
        if self._waker is not None:
            self._waker.join()

    def _catch_up(self) -> None:
        """Step until the head is reached and no head was announced meanwhile, or stopping."""
        if not self._running.acquire(blocking=False):
            return
        try:
            while not self._stop.is_set():
                self._wake.clear()
                if self.indexer.step().kind == "idle" and not self._wake.is_set():
                    return
        except ServiceStopping:
            return
        except BaseException as exc:  # kept for the owner, who reports it and exits
            self._fail(exc)
        finally:
            self._running.release()

    def _listen(self) -> None:
        """Run the catch-up job at once on each announced head (the interval still polls)."""
        assert self.heads is not None
        while not self._stop.is_set():
            if self.heads.wait(0.2) and not self._stop.is_set():
                self._wake.set()  # a run in progress loops once more; otherwise run one now
                if not self._running.locked():
                    with contextlib.suppress(JobLookupError):  # removed by ``stop`` meanwhile
                        self.scheduler.modify_job(CATCH_UP_JOB, next_run_time=datetime.now(UTC))

    def _refresh_metrics(self) -> None:
        """Head and lag as of now, also while idle (progress updates only come with blocks)."""
        assert self.metrics is not None
        try:
            head = self.indexer.source.head_number()
        except TRANSIENT_ERRORS:
            return  # counted by MeteredSource; the catch-up job retries and reports its own
        self.metrics.head.set(head)
        self.metrics.lag.set(max(0, head - self.indexer.checkpoint.number))

    def _guarded(self, job: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            if self._stop.is_set():
                return
            try:
                job()
            except BaseException as exc:  # kept for the owner, who reports it and exits
                self._fail(exc)

        return run

    def _fail(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc
        self._stop.set()
