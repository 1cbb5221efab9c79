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

Watching it: ``metrics`` (``projections.metrics``) times each catch-up and counts failed
publications; ``heartbeats`` are its rows in ``service_status`` (the projections', with each
one's lag, and the publisher's when it publishes), beaten on the same scheduler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler
from psycopg import sql

from artisan.errors import ArtisanError, TransientChainError
from artisan.projections.metrics import ProjectionMetrics, publisher_details
from artisan.projections.rewards.closing import ClosedEpoch, close_final_epochs
from artisan.projections.rewards.epochs import RewardConfig
from artisan.projections.rewards.publisher import Published, Publisher
from artisan.projections.runner import Runner
from artisan.scheduling import ScheduledService
from artisan.storage.event_store import NOTIFY_CHANNEL
from artisan.storage.service_status import Heartbeat, HeartbeatService

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


class ProjectionService(ScheduledService):
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
        metrics: ProjectionMetrics | None = None,
    ) -> None:
        super().__init__(scheduler, stop=stop)
        self.runner = runner
        self.metrics = metrics or ProjectionMetrics()
        self.metrics.watch(runner)
        self.epochs = epochs
        self.intervals = intervals or ProjectionIntervals()
        self.positions: dict[str, int] = {}  # after the last catch-up
        self.publish_error: str | None = None  # the last publication failure, until one works
        self._on_closed = on_closed or (lambda _closed: None)
        self._on_published = on_published or (lambda _published: None)
        self._catching = threading.Event()  # set while catching up
        self._woken = threading.Event()  # the indexer committed since the catch-up began
        # Catch-up and epochs share the runner's connections: one lock. The catch-up job
        # allows a second instance, which waits for the first: a commit announced just as a
        # run ends is then taken by the next, not skipped by the scheduler.
        shared = self.add_job(
            CATCH_UP_JOB, self._catch_up, self.intervals.catch_up, instances=2,
            transient=TRANSIENT,
        )  # fmt: skip
        if epochs is not None:
            self.add_job(EPOCH_JOB, self._close_epochs, self.intervals.epochs, lock=shared,
                         transient=TRANSIENT)  # fmt: skip
            if epochs.publisher is not None:
                self.add_job(PUBLISH_JOB, self._publish, self.intervals.publish,
                             transient=TRANSIENT)  # fmt: skip
        self.add_thread("projections-listener", self._listen)

    def _catch_up(self) -> None:
        """Catch up until no commit was announced meanwhile (or stopping)."""
        self._catching.set()
        try:
            while not self.stopping:
                self._woken.clear()
                started = time.perf_counter()
                self.positions = self.runner.catch_up()
                self.metrics.catch_up_seconds.observe(time.perf_counter() - started)
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
            self.run_now(PUBLISH_JOB)

    def _publish(self) -> None:
        assert self.epochs is not None and self.epochs.publisher is not None
        try:
            published = self.epochs.publisher.step()
        except TRANSIENT:
            raise
        except ArtisanError as exc:  # a publication failure: logged, retried, never fatal
            self.metrics.publish_failures.inc()
            if str(exc) != self.publish_error:
                log.error("publishing failed, retrying at each run: %s", exc)
            self.publish_error = str(exc)
            return
        self.publish_error = None
        if published:
            log.info("published epochs %s", [p.epoch for p in published])
            self._on_published(published)

    def heartbeats(self, *, instance: str = "", seconds: float = 5.0) -> list[HeartbeatService]:
        """Its rows in service_status, on its scheduler: the projections' (each one's lag, the
        service's last error), and the publisher's when it publishes (epochs closed and
        published, the last publication failure). Its owner calls ``starting``, ``start``
        and ``finish`` on each."""
        db, scheduler = self.runner.db, self.scheduler
        rows = [HeartbeatService(
            scheduler, Heartbeat(db, "projections", instance),
            lambda conn: self.metrics.measure(conn, self.runner), seconds=seconds,
            last_error=lambda: self.last_error,
        )]  # fmt: skip
        if self.epochs is not None and self.epochs.publisher is not None:
            rows.append(HeartbeatService(
                scheduler, Heartbeat(db, "publisher", instance),
                lambda conn: publisher_details(conn, self.publish_error), seconds=seconds,
                last_error=lambda: self.publish_error,
            ))  # fmt: skip
        return rows

    def _listen(self) -> None:
        """Run the catch-up job at once whenever the indexer commits (the interval still polls).

        A lost connection is opened again after a pause: notifications missed meanwhile are
        covered by the interval."""
        while not self.stopping:
            try:
                with self.runner.db.connect(autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
                    while not self.stopping:
                        # Drain everything queued: one catch-up serves every append so far.
                        if any(True for _ in conn.notifies(timeout=0.2)):
                            self._wake()
            except psycopg.OperationalError as exc:
                log.warning("lost the NOTIFY connection (%s); listening again", exc)
                self.stop_event.wait(1.0)

    def _wake(self) -> None:
        self._woken.set()  # a catch-up in progress goes round once more; else run one now
        if not self._catching.is_set():
            self._run_catch_up_now()

    def _run_catch_up_now(self) -> None:
        self.run_now(CATCH_UP_JOB)
