"""Each running service instance's row in ``service_status``: its state, its figures, its last
error; what `artisan status` reads.

A ``Heartbeat`` writes one instance's row on a connection of its own (never a service's
writer connection: a heartbeat must not join the service's transactions or hold its lock).
``HeartbeatService`` beats it on the process's scheduler every few seconds, never per event:
``starting`` when the process begins, ``running`` with what ``measure`` reads on each beat
(the same figures as the service's metrics), then ``stopped`` on a clean stop or ``failed``
with the reason. An instance is ``host:pid`` unless configured (``ARTISAN_STATUS_INSTANCE``).
Each row carries its own beat interval (``details.heartbeat_s``), so a reader can tell a
stale row, one whose process died without a word, from a live one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler
from psycopg.types.json import Jsonb

from artisan.errors import StorageError
from artisan.scheduling import ScheduledService, describe
from artisan.storage.database import Database

log = logging.getLogger(__name__)

State = Literal["starting", "running", "stopping", "stopped", "failed"]
Measure = Callable[[psycopg.Connection[Any]], Mapping[str, object]]
# Rows of ended instances (stopped or failed) are dropped when an instance of the same service
# starts this long after them: a host:pid instance never comes back, and its row would stay.
FORGET_ENDED = "7 days"
DEFAULT_BEAT_S = 5.0  # a row's heartbeat interval when it does not say


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One instance's row, with its age by the database's clock (no host clock is trusted)."""

    service: str
    instance: str
    state: State
    details: dict[str, Any]
    last_error: str | None
    started_at: datetime
    updated_at: datetime
    age_s: float  # seconds since its last write

    @property
    def stale(self) -> bool:
        return is_stale(self.state, self.age_s, self.details)


def is_stale(state: str, age_s: float, details: Mapping[str, Any]) -> bool:
    """A live state whose last beat is older than three beats: its process is gone or stuck.
    A row without its interval is judged by the default one."""
    if state in ("stopped", "failed"):
        return False
    try:
        beat = float(details.get("heartbeat_s", DEFAULT_BEAT_S))
    except (TypeError, ValueError):
        beat = DEFAULT_BEAT_S
    return age_s > 3 * beat


def default_instance(pid: int | None = None) -> str:
    """A process's instance name: ``host:pid`` (this process's, unless ``pid`` is given)."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


_UPSERT = """
INSERT INTO service_status AS s (service, instance, state, details, last_error)
VALUES (%(service)s, %(instance)s, %(state)s, %(details)s, %(error)s)
ON CONFLICT (service, instance) DO UPDATE
SET state = EXCLUDED.state,
    details = CASE WHEN EXCLUDED.details = '{}'::jsonb THEN s.details ELSE EXCLUDED.details END,
    last_error = CASE WHEN %(starting)s THEN EXCLUDED.last_error
                      ELSE coalesce(EXCLUDED.last_error, s.last_error) END,
    started_at = CASE WHEN %(starting)s THEN now() ELSE s.started_at END,
    updated_at = now()
"""

_READ = """
SELECT service, instance, state, details, last_error, started_at, updated_at,
       extract(epoch FROM now() - updated_at)::float8
FROM service_status ORDER BY service, instance
"""


def write(
    conn: psycopg.Connection[Any],
    service: str,
    instance: str,
    state: State,
    details: Mapping[str, object] | None = None,
    last_error: str | None = None,
) -> None:
    """Upsert one row. Empty ``details`` keep the previous ones (a final ``stopped`` still
    shows the last figures); a None ``last_error`` keeps the previous error, except when
    ``starting`` (a new run starts clean)."""
    starting = state == "starting"
    params = {"service": service, "instance": instance, "state": state,
              "details": Jsonb(dict(details or {})), "error": last_error,
              "starting": starting}  # fmt: skip
    with conn.transaction():
        conn.execute(_UPSERT, params)
        if starting:
            conn.execute(
                "DELETE FROM service_status WHERE service = %s AND instance <> %s"
                " AND state IN ('stopped', 'failed') AND updated_at < now() - %s::interval",
                (service, instance, FORGET_ENDED),
            )


def read_all(conn: psycopg.Connection[Any]) -> list[ServiceStatus]:
    """Every instance's row, by service and instance."""
    return [ServiceStatus(*row) for row in conn.execute(_READ).fetchall()]


class Heartbeat:
    """Writes one instance's row on a connection of its own, opened on first use and again
    after it was lost (a failed write is a ``StorageError``; the next one reconnects)."""

    def __init__(self, db: Database, service: str, instance: str = "") -> None:
        self.db = db
        self.service = service
        self.instance = instance or default_instance()
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()  # the scheduler's thread and the owner's may both write

    def write(
        self,
        state: State,
        details: Mapping[str, object] | None = None,
        last_error: str | Callable[[], str | None] | None = None,
        measure: Measure | None = None,
    ) -> None:
        """Write the row; ``measure`` reads the details on the heartbeat's connection (and a
        callable ``last_error`` is asked after it)."""
        with self._lock:
            try:
                conn = self._conn = self._conn or self.db.connect(autocommit=True)
                if measure is not None:
                    details = measure(conn)
                error = last_error() if callable(last_error) else last_error
                write(conn, self.service, self.instance, state, details, error)
            except psycopg.Error as exc:
                self._drop()
                raise StorageError(f"{self.service} heartbeat: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class HeartbeatService(ScheduledService):
    """Beats ``heartbeat`` every ``seconds`` on ``scheduler`` while its owner runs.

    The owner calls ``starting`` as its process begins, ``start`` once it runs (the first beat
    is at once), ``mark_stopping`` if its stop takes a while (draining, say), and ``finish`` as it
    ends, with the failure that ended it if one did (or wraps its run in ``reporting``, which
    finishes with whatever escapes). A beat
    that cannot write (the database is away) is logged and left to the next one; a ``measure``
    that fails is reported in the row, so a heartbeat outlives a bug in what it measures.
    """

    def __init__(
        self,
        scheduler: BackgroundScheduler,
        heartbeat: Heartbeat,
        measure: Measure,
        *,
        seconds: float = 5.0,
        last_error: Callable[[], str | None] = lambda: None,
    ) -> None:
        super().__init__(scheduler)
        self.heartbeat = heartbeat
        self.seconds = seconds
        self._measure = measure
        # Where the row's last error comes from: its owner may point it elsewhere once the
        # service it reports on exists (the indexer's live service, after the backfill).
        self.errors = last_error
        self._finished = threading.Event()
        self._state: State = "running"  # what each beat writes
        self.add_job(f"{heartbeat.service}.heartbeat", self.beat, seconds,
                     transient=(StorageError,))  # fmt: skip

    def starting(self) -> None:
        self._write("starting", {"heartbeat_s": self.seconds})

    def mark_stopping(self) -> None:
        """From now on the beats say ``stopping`` (the figures go on)."""
        self._state = "stopping"
        if not self._finished.is_set():
            self._write("stopping")

    def beat(self) -> None:
        """One ``running`` (or ``stopping``) row with fresh figures (what the job runs; a test
        may call it to beat at once)."""
        failed: list[str] = []

        def measure(conn: psycopg.Connection[Any]) -> Mapping[str, object]:
            try:
                return {**self._measure(conn), "heartbeat_s": self.seconds}
            except psycopg.OperationalError:
                raise  # the connection is gone: the next beat reconnects
            except Exception as exc:
                log.exception("%s: measuring for the heartbeat failed", self.heartbeat.service)
                failed.append(f"measuring failed: {describe(exc)}")
                return {"heartbeat_s": self.seconds}

        self.heartbeat.write(
            self._state, measure=measure,
            last_error=lambda: failed[0] if failed else self.errors(),
        )  # fmt: skip

    def finish(self, failure: BaseException | None = None) -> None:
        """Stop beating; write ``failed`` (with ``failure``) or ``stopped``; close. Only the
        first call counts (a thread's failure may finish it before its owner does)."""
        if self._finished.is_set():
            return
        self._finished.set()
        self.stop()
        if failure is None:
            self._write("stopped", last_error=self.errors())
        else:
            self._write("failed", last_error=describe(failure))
        self.heartbeat.close()

    @contextlib.contextmanager
    def reporting(self) -> Iterator[None]:
        """``finish`` as the block ends: ``failed`` with what escaped it, ``stopped`` if
        nothing did or it was a KeyboardInterrupt (a stop asked for)."""
        try:
            yield
        except KeyboardInterrupt:
            self.finish()
            raise
        except BaseException as exc:
            self.finish(exc)
            raise
        self.finish()

    def _write(
        self, state: State, details: Mapping[str, object] | None = None,
        last_error: str | None = None,
    ) -> None:  # fmt: skip
        try:
            self.heartbeat.write(state, details, last_error)
        except StorageError as exc:  # the row is a report: its loss never stops a service
            log.warning("cannot write the %s row of %s: %s", state, self.heartbeat.service, exc)
