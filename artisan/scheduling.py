"""The one APScheduler of a process, shared by every service's periodic jobs, and the one
way a service is composed on it (``ScheduledService``).

``build_scheduler`` makes it (not started); the indexer service, the projection service and
any later one add their jobs to it; the owner starts it, and shuts it down last.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)


class _OverlapIsNormal(logging.Filter):
    """Drops APScheduler's warning that a job's run was skipped because its previous run is
    still going. One instance at a time is the design (a catch-up longer than the poll interval
    simply runs on): a soak's indexer logged it about 2.6 times a second, half its log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


_OVERLAP_FILTER = _OverlapIsNormal()


def build_scheduler(max_workers: int = 4) -> BackgroundScheduler:
    """The process's scheduler (not started): UTC, a small thread pool, and job defaults of one
    instance at a time with missed runs coalesced (a skipped overlapping run is not logged)."""
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if _OVERLAP_FILTER not in scheduler_log.filters:
        scheduler_log.addFilter(_OVERLAP_FILTER)
    return BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )


class ScheduledService:
    """A long-running service as jobs on the process's scheduler: the composition every
    service shares (the indexer's, the projections'), written once.

    A subclass registers its jobs (``add_job``) and background threads (``add_thread``) in its
    constructor; its owner calls ``start``, then ``wait`` (until asked to stop, or the first
    failure), then ``stop``, and reports ``failure``. A job never swallows a failure: an
    exception of the job's declared ``transient`` kinds is logged and left to its next run;
    anything else is kept in ``failure``, the service stops, and ``wait`` returns. ``stop``
    removes the jobs, waits for every run in progress (each job's lock) and joins the threads;
    the scheduler stays the owner's. ``last_error`` is the newest failure of any kind, transient
    ones included, as a line (its heartbeat reports it, ``artisan.storage.service_status``).
    """

    def __init__(self, scheduler: BackgroundScheduler, *, stop: threading.Event | None = None):
        self.scheduler = scheduler
        self.failure: BaseException | None = None
        self.last_error: str | None = None
        self._stop = stop or threading.Event()  # set to stop: by ``stop``, a failure, a signal
        self._jobs: list[_Job] = []
        self._threads: list[threading.Thread] = []

    # -- composing ---------------------------------------------------------------------------

    def add_job(
        self,
        job_id: str,
        body: Callable[[], None],
        seconds: float,
        *,
        lock: threading.Lock | None = None,
        instances: int = 1,
        transient: tuple[type[BaseException], ...] = (),
    ) -> threading.Lock:
        """Run ``body`` every ``seconds`` (the first run at start), serialized with the jobs
        that share ``lock`` (a new one by default); the lock, held while it runs."""
        held = lock or threading.Lock()
        self._jobs.append(
            _Job(job_id, self._guard(body, held, transient), seconds, instances, held)
        )
        return held

    def add_thread(self, name: str, target: Callable[[], None]) -> None:
        """Run ``target`` on a thread of its own from ``start`` (it must return once
        ``stopping``); a failure there is the service's failure."""
        self._threads.append(
            threading.Thread(target=self._guard(target, None, ()), name=name, daemon=True)
        )

    # -- running -----------------------------------------------------------------------------

    def start(self) -> None:
        now = datetime.now(UTC)
        for job in self._jobs:
            self.scheduler.add_job(
                job.run, "interval", seconds=job.seconds, id=job.job_id, next_run_time=now,
                max_instances=job.instances, coalesce=True,
            )  # fmt: skip
        for thread in self._threads:
            thread.start()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def stop_event(self) -> threading.Event:
        return self._stop

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the service is stopping (asked to, or failed); False on timeout."""
        return self._stop.wait(timeout)

    def run_now(self, job_id: str) -> None:
        """Run a job at once (a run in progress is followed by one more, not doubled)."""
        if not self._stop.is_set():
            with contextlib.suppress(JobLookupError):  # removed by ``stop`` meanwhile
                self.scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))

    def fail(self, exc: BaseException) -> None:
        """Keep the first failure and stop."""
        if self.failure is None:
            self.failure = exc
        self.last_error = describe(exc)
        self._stop.set()

    def stop(self) -> None:
        """Remove the jobs, wait for the runs in progress, join the threads."""
        self._stop.set()
        for job in self._jobs:
            if self.scheduler.get_job(job.job_id) is not None:
                self.scheduler.remove_job(job.job_id)
        for job in self._jobs:
            with job.lock:
                pass
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def _guard(
        self,
        body: Callable[[], None],
        lock: threading.Lock | None,
        transient: tuple[type[BaseException], ...],
    ) -> Callable[[], None]:
        @functools.wraps(body)  # the scheduler's log lines name the job's own function
        def run() -> None:
            with lock if lock is not None else contextlib.nullcontext():
                if self._stop.is_set():
                    return
                try:
                    body()
                except transient as exc:
                    log.warning("%s failed, retrying at its next run: %s", body.__name__, exc)
                    self.last_error = f"{body.__name__}: {describe(exc)}"
                except BaseException as exc:  # kept for the owner, who reports it and exits
                    self.fail(exc)

        return run


def describe(exc: BaseException) -> str:
    """A failure as one line: its kind and message."""
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__


@dataclass(frozen=True, slots=True)
class _Job:
    job_id: str
    run: Callable[[], None]
    seconds: float
    instances: int
    lock: threading.Lock
