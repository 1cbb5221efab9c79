"""The runner: keeps every projection caught up with the event store, exactly once.

One transaction per step and projection, at REPEATABLE READ so that the reorgs, the head and
the events it reads are one snapshot of the store. A step either reverts (reorgs newer than
the projection's exist: undo everything above their lowest common ancestor and resume under
the first event they removed, skipping removed events from then on; see ``positions``) or
applies the next range of positions, ending at a block's end (a block is atomic to readers,
and an execution's credits then always come in its batch). Either way the tracking row
moves in the same transaction, guarded (``tracking.move``), so a crash at any point leaves
rows and position in agreement.

Catching up runs the projections side by side on ``workers`` connections (they write
disjoint tables, and each step of one projection is one transaction whichever connection runs
it): each free connection takes the waiting projection that has cost the most so far, so the
heaviest one is never left to run alone at the end. A projection is stepped by one connection
at a time, in order. Once a projection that applied events is idle, its lane analyses its
tables (``statistics.refresh``) while the other lanes go on, instead of one connection analysing
every written table after all of them are done.

Live, ``service.ProjectionService`` runs it on NOTIFY ``artisan_events`` (sent by the indexer
when it commits) and on a schedule, whichever comes first. One runner per chain: it holds an
advisory lock for life.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import psycopg

from artisan.projections import bulk, positions, tracking
from artisan.projections.abc import Projection
from artisan.projections.errors import TrackingConflict
from artisan.projections.registry import ALL
from artisan.retry import Backoff, call_with_retries
from artisan.storage import statistics
from artisan.storage.database import Database
from artisan.storage.event_store import PROJECTED_CHANNEL
from artisan.storage.writer_lock import acquire_writer_connection, release_writer_connection

log = logging.getLogger(__name__)

# What a step may fail with and simply retry: another transaction got there first.
TRANSIENT = (TrackingConflict, psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)
DEFAULT_BATCH = 100_000
# What every step reads: refreshed before a catch-up if bulk writes made them stale.
READ_TABLES = ("events", "event_removals", "blocks", "reorgs")
DEFAULT_WORKERS = 2
# A replay from the first event with at least this many positions beyond its first batch
# builds its projection's reader indexes once at the end (``bulk``).
BULK_FROM = 200_000

# Settings of every step's transaction. Bulk statements over whole batches: JIT compiling them
# costs more than it saves, and sorts and hashes of a batch should stay in memory. A batch's
# range of the event store is read again and again (by each projection), so it is cached and a
# random page costs about what a sequential one does: at the default cost of 4 the planner
# walks all 100,000 events of a batch in position order for the 5% a projection needs, where
# fetching just those through ``events_name`` takes a fifth of the time. And the commit need
# not wait for its WAL flush: the position commits with the rows, so a crash that loses the
# last commits loses both together, and the runner simply applies those events again.
_SESSION = (
    "SET LOCAL jit = off; SET LOCAL work_mem = '64MB'; SET LOCAL random_page_cost = 1.1;"
    " SET LOCAL synchronous_commit = off"
)


@dataclass(frozen=True, slots=True)
class Step:
    """What one step of one projection did."""

    kind: Literal["apply", "revert", "idle"]
    position: int
    reorg_id: int


def lock_stream(chain_id: int) -> str:
    return f"artisan.projections:{chain_id}"


@dataclass(slots=True)
class Cost:
    """What one projection's steps took so far: count, wall seconds, and the CPU seconds of
    this process spent on them (its Python side; the server's work is not counted)."""

    steps: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0


class Runner:
    """Runs ``projections`` for chain ``chain_id`` over the event store in ``db``."""

    def __init__(
        self,
        db: Database,
        chain_id: int,
        projections: Sequence[Projection] = ALL,
        *,
        batch_size: int = DEFAULT_BATCH,
        workers: int = DEFAULT_WORKERS,
        bulk_from: int = BULK_FROM,
        before_commit: Callable[[str, Step], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.db = db
        self.chain_id = chain_id
        self.projections = tuple(projections)
        self.batch_size = batch_size
        self.workers = workers
        self.bulk_from = bulk_from
        self.costs: dict[str, Cost] = {p.name: Cost() for p in self.projections}
        # Tests hook here to crash a step after its writes, before its commit.
        self._before_commit = before_commit
        self._reads_checked = False
        self._written = {t.name for p in self.projections for t in p.tables}
        self._lock = acquire_writer_connection(db, lock_stream(chain_id))
        self._conns: list[psycopg.Connection[Any]] = []
        try:
            self._conns.append(self._connect())
        except BaseException:
            release_writer_connection(self._lock, lock_stream(chain_id))
            raise

    def _connect(self) -> psycopg.Connection[Any]:
        conn = self.db.connect(autocommit=True)
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        return conn

    def close(self) -> None:
        for conn in self._conns:
            conn.close()
        release_writer_connection(self._lock, lock_stream(self.chain_id))

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def step(self, projection: Projection, batch_size: int | None = None) -> Step:
        """One transaction of one projection: revert a reorg, apply a range, or nothing."""
        return self._step(self._conns[0], projection, batch_size)

    def _step(
        self, conn: psycopg.Connection[Any], projection: Projection, batch_size: int | None
    ) -> Step:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return self._transaction(conn, projection, batch_size or self.batch_size)
        finally:
            cost = self.costs.setdefault(projection.name, Cost())
            cost.steps += 1
            cost.seconds += time.perf_counter() - started
            cost.cpu_seconds += time.thread_time() - cpu

    def _transaction(
        self, conn: psycopg.Connection[Any], projection: Projection, batch_size: int
    ) -> Step:
        chain = self.chain_id
        with conn.transaction():
            conn.execute(_SESSION)
            now = tracking.read(conn, projection.name, chain)
            reorgs = positions.reorgs_since(conn, chain, now.last_reorg_id)
            if reorgs is not None:
                removed = positions.first_removed(conn, chain, now.last_reorg_id)
                resume = (
                    now.last_position if removed is None else min(now.last_position, removed - 1)
                )
                tracking.move(conn, now, resume, reorgs.newest_id)
                projection.revert(conn, reorgs.ancestor)
                done = Step("revert", resume, reorgs.newest_id)
            else:
                head = positions.head_position(conn, chain)
                upto = min(head, now.last_position + batch_size)
                upto = positions.block_end(conn, chain, upto)
                if upto <= now.last_position:
                    bulk.restore(conn, projection)  # in case a reorg took the head back
                    return Step("idle", now.last_position, now.last_reorg_id)
                if now.last_position == 0 and head - upto >= self.bulk_from:
                    bulk.defer(conn, projection)
                tracking.move(conn, now, upto, now.last_reorg_id)
                projection.apply(conn, chain, now.last_position, upto)
                if upto >= head:
                    bulk.restore(conn, projection)
                done = Step("apply", upto, now.last_reorg_id)
            # Readers that follow the read models (the API's subscriptions) hear of the step
            # when, and only if, it commits.
            payload = {"chain": chain, "projection": projection.name, "kind": done.kind,
                       "position": done.position}  # fmt: skip
            conn.execute(
                "SELECT pg_notify(%s, %s)", (PROJECTED_CHANNEL, orjson.dumps(payload).decode())
            )
            if self._before_commit is not None:
                self._before_commit(projection.name, done)
        return done

    def _retrying(
        self, conn: psycopg.Connection[Any], projection: Projection, retries: int
    ) -> Step:
        """One step, retried after a transient failure (another transaction got there first)."""
        return call_with_retries(
            lambda: self._step(conn, projection, None),
            Backoff(base=0.05, cap=1.0, max_failures=retries),
            time.sleep,
            f"projection {projection.name}",
            errors=TRANSIENT,
            give_up=lambda exc: exc,  # the step's own error, as it was
        )

    def catch_up(self, retries: int = 5) -> dict[str, int]:
        """Step every projection until it is idle; the final positions by name."""
        lanes = min(self.workers, len(self.projections))
        while len(self._conns) < lanes:
            self._conns.append(self._connect())
        # A freshly backfilled store is read with statistics, whatever autovacuum has done:
        # checked at the runner's first catch-up (later backfills refresh them themselves).
        if not self._reads_checked:
            statistics.refresh(self._conns[0], READ_TABLES)
            self._reads_checked = True
        applied = threading.Event()
        waiting = list(self.projections)
        out: dict[str, int] = {}
        guard = threading.Lock()
        failed = threading.Event()
        moved: set[str] = set()

        def lane(conn: psycopg.Connection[Any]) -> None:
            while not failed.is_set():
                with guard:
                    if not waiting:
                        return
                    projection = max(waiting, key=lambda p: self.costs[p.name].seconds)
                    waiting.remove(projection)
                try:
                    done = self._retrying(conn, projection, retries)
                except BaseException:
                    failed.set()
                    raise
                if done.kind != "idle":
                    statistics.flush(conn)  # its counts published for the check below
                elif projection.name in moved:
                    # Its tables analysed here, beside the other lanes' work, rather than all
                    # of them one after another once every projection is done.
                    statistics.refresh(conn, [t.name for t in projection.tables])
                with guard:
                    if done.kind == "idle":
                        out[projection.name] = done.position
                    else:
                        applied.set()
                        moved.add(projection.name)
                        waiting.append(projection)

        if lanes <= 1:
            lane(self._conns[0])
        else:
            with ThreadPoolExecutor(lanes, thread_name_prefix="projections") as pool:
                for future in [pool.submit(lane, conn) for conn in self._conns[:lanes]]:
                    future.result()
        # ... and what a long catch-up wrote in bulk is analysed before readers plan on it
        # (a catch-up that applied nothing changed nothing: no check on the live path).
        if applied.is_set():
            for conn in self._conns[:lanes]:
                statistics.flush(conn)
            statistics.refresh(self._conns[0], self._written)
        return {p.name: out[p.name] for p in self.projections}


def run_once(db: Database, chain_id: int, **kwargs: Any) -> dict[str, int]:
    """Catch every projection up once (a scheduled job's unit of work)."""
    with Runner(db, chain_id, **kwargs) as runner:
        return runner.catch_up()
