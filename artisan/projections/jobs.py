"""The projections live, as scheduled jobs: catching up with the event store, closing epochs.

Jobs on the process's scheduler (``artisan.scheduling``), each one instance at a time with
missed runs coalesced:

- catch-up: ``Runner.catch_up`` every ``catch_up`` seconds, and at once whenever the indexer
  commits (NOTIFY ``artisan_events``, heard on a connection of its own);
- epochs (when rewards are configured): ``close_final_epochs`` every ``epochs`` seconds, which
  closes each finished epoch once it is final and the projections it reads have reached its
  end, and stores every leaf with its proof;
- publish (when a publisher is given): one ``Publisher.step`` every ``publish`` seconds, which
  moves each closed epoch's publication as far as the chain allows without waiting on it.

Catch-up and epochs share the runner's connections and run one after the other; publishing
has its own connection and lock, so a slow node or a stuck transaction never holds up the
projections: a publication waiting on the chain is a state in Postgres, not a blocked thread.

Failures: a node that cannot be reached (``TRANSIENT``) is logged and left to the job's next
run, which starts over from what committed; so is any publication failure (``ArtisanError``:
a step that would revert, a root conflict), kept in ``publish_error`` for status displays and
logged at each run until it clears, while the projections go on. Anything else is kept, the
service stops, and ``wait`` returns so that its owner can report it and exit: a job never
swallows a failure. That includes a lost database connection: the writer locks went with it,
so the process must end (a supervisor restarts it) rather than write without them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from psycopg import sql

from artisan.errors import ArtisanError, TransientChainError
from artisan.projections.rewards.closing import ClosedEpoch, close_final_epochs
from artisan.projections.rewards.epochs import RewardConfig
from artisan.projections.rewards.publisher import Published, Publisher
from artisan.projections.runner import Runner
from artisan.storage.event_store import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

CATCH_UP_JOB = "projections.catch-up"
EPOCH_JOB = "projections.epochs"
PUBLISH_JOB = "projections.publish"
# Connection failures of the node (web3's requests errors are OSErrors; ours are
# TransientChainError).
TRANSIENT = (OSError, TransientChainError)


@dataclass(frozen=True, slots=True)
class EpochSchedule:
    """What the epoch job needs: how epochs are cut and funded, when a block is final, and who
    publishes (None: close and store epochs, publish nothing)."""

    config: RewardConfig
    finality_depth: int
    publisher: Publisher | None = None

    def __post_init__(self) -> None:
        if self.finality_depth < 1:
            raise ValueError(f"finality_depth must be >= 1, got {self.finality_depth}")


@dataclass(frozen=True, slots=True)
class ProjectionIntervals:
    """Seconds between runs of each job (catch-up also runs on each NOTIFY)."""

    catch_up: float = 5.0
    epochs: float = 30.0
    publish: float = 2.0


class ProjectionService:
    """Runs ``runner``'s live jobs on ``scheduler``; both stay the caller's (``stop`` removes
    this service's jobs and leaves the scheduler running)."""

    def __init__(
        self,
        runner: Runner,
        scheduler: BackgroundScheduler,
        *,
        epochs: EpochSchedule | None = None,
        intervals: ProjectionIntervals | None = None,
        stop: threading.Event | None = None,
        on_closed: Callable[[list[ClosedEpoch]], None] | None = None,
        on_published: Callable[[list[Published]], None] | None = None,
    ) -> None:
        self.runner = runner
        self.scheduler = scheduler
        self.epochs = epochs
        self.intervals = intervals or ProjectionIntervals()
        self.failure: BaseException | None = None
        self.positions: dict[str, int] = {}  # after the last catch-up
        self.publish_error: str | None = None  # the last publication failure, until one works
        self._on_closed = on_closed or (lambda _closed: None)
        self._on_published = on_published or (lambda _published: None)
        self._stop = stop or threading.Event()
        self._running = threading.Lock()  # held while catch-up or epochs runs: ``stop`` waits
        self._publishing = threading.Lock()  # held while the publish job runs
        self._catching = threading.Event()  # set while catching up
        self._woken = threading.Event()  # the indexer committed since the catch-up began
        self._listener: threading.Thread | None = None

    def start(self) -> None:
        """Add the jobs (first runs at once) and start listening for the indexer's commits."""
        # The catch-up job allows a second instance, which waits for the first: a commit
        # announced just as a run ends is then taken by the next, not skipped by the scheduler.
        jobs: list[tuple[str, Callable[[], None], float, int]] = [
            (CATCH_UP_JOB, self._job(self._catch_up, self._running), self.intervals.catch_up, 2),
        ]
        if self.epochs is not None:
            jobs.append(
                (EPOCH_JOB, self._job(self._close_epochs, self._running), self.intervals.epochs, 1)
            )
            if self.epochs.publisher is not None:
                run = self._job(self._publish, self._publishing)
                jobs.append((PUBLISH_JOB, run, self.intervals.publish, 1))
        now = datetime.now(UTC)
        for job_id, run, seconds, instances in jobs:
            self.scheduler.add_job(
                run, "interval", seconds=seconds, id=job_id, next_run_time=now,
                max_instances=instances, coalesce=True,
            )  # fmt: skip
        self._listener = threading.Thread(
            target=self._listen, name="projections-listener", daemon=True
        )
        self._listener.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the service is stopping (asked to, or failed); False on timeout."""
        return self._stop.wait(timeout)

    def stop(self) -> None:
        """Remove the jobs and wait for a run in progress to finish."""
        self._stop.set()
        for job in (CATCH_UP_JOB, EPOCH_JOB, PUBLISH_JOB):
            if self.scheduler.get_job(job) is not None:
                self.scheduler.remove_job(job)
        with self._running, self._publishing:
            pass
        if self._listener is not None:
            self._listener.join()

    def _catch_up(self) -> None:
        """Catch up until no commit was announced meanwhile (or stopping)."""
        self._catching.set()
        try:
            while not self._stop.is_set():
                self._woken.clear()
                self.positions = self.runner.catch_up()
                if not self._woken.is_set():
                    return
        finally:
            self._catching.clear()
            if self._woken.is_set():  # announced as this run ended: the next one takes it
                self._run_catch_up_now()

    def _close_epochs(self) -> None:
        assert self.epochs is not None
        # Catch up first: an epoch closes only once the projections have reached its end.
        self._catch_up()
        closed = close_final_epochs(
            self.runner.db,
            self.runner.chain_id,
            self.epochs.config,
            finality_depth=self.epochs.finality_depth,
        )
        if closed:
            log.info("closed epochs %s", [c.epoch for c in closed])
            self._on_closed(closed)
            self._run_now(PUBLISH_JOB)

    def _publish(self) -> None:
        assert self.epochs is not None and self.epochs.publisher is not None
        try:
            published = self.epochs.publisher.step()
        except TRANSIENT:
            raise
        except ArtisanError as exc:  # a publication failure: logged, retried, never fatal
            if str(exc) != self.publish_error:
                log.error("publishing failed, retrying at each run: %s", exc)
            self.publish_error = str(exc)
            return
        self.publish_error = None
        if published:
            log.info("published epochs %s", [p.epoch for p in published])
            self._on_published(published)

    def _job(self, body: Callable[[], None], lock: threading.Lock) -> Callable[[], None]:
        """One run of a job: skipped once stopping, serialized with the jobs that share its
        lock (catch-up and epochs share the runner's connections), transient failures left to
        the next run."""

        def run() -> None:
            with lock:
                if self._stop.is_set():
                    return
                try:
                    body()
                except TRANSIENT as exc:
                    log.warning("%s failed, retrying at its next run: %s", body.__name__, exc)
                except BaseException as exc:  # kept for the owner, who reports it and exits
                    if self.failure is None:
                        self.failure = exc
                    self._stop.set()

        return run

    def _listen(self) -> None:
        """Run the catch-up job at once whenever the indexer commits (the interval still polls).

        A lost connection is opened again after a pause: notifications missed meanwhile are
        covered by the interval."""
        while not self._stop.is_set():
            try:
                with self.runner.db.connect(autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
                    while not self._stop.is_set():
                        # Drain everything queued: one catch-up serves every append so far.
                        if any(True for _ in conn.notifies(timeout=0.2)):
                            self._wake()
            except psycopg.OperationalError as exc:
                log.warning("lost the NOTIFY connection (%s); listening again", exc)
                self._stop.wait(1.0)

    def _wake(self) -> None:
        self._woken.set()  # a catch-up in progress goes round once more; else run one now
        if not self._catching.is_set():
            self._run_catch_up_now()

    def _run_catch_up_now(self) -> None:
        self._run_now(CATCH_UP_JOB)

    def _run_now(self, job: str) -> None:
        if not self._stop.is_set():
            with contextlib.suppress(JobLookupError):  # absent, or removed by ``stop``
                self.scheduler.modify_job(job, next_run_time=datetime.now(UTC))
