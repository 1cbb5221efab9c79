"""The runner's guarantees: guarded positions, one runner per chain, wake-ups, rebuild."""

from __future__ import annotations

import pytest

from artisan.projections import tracking
from artisan.projections.admin import rebuild, status
from artisan.projections.errors import TrackingConflict
from artisan.projections.executions import ExecutionsProjection
from artisan.projections.runner import Runner, Step
from artisan.storage.database import Database
from artisan.storage.writer_lock import WriterLockHeld
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator

from .support import CHAIN_ID, db_digests, memory_digests, write


def count(db: Database, table: str) -> int:
    with db.connect() as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # test-only, fixed names
    assert row is not None
    return int(row[0])


def seeded(db: Database, blocks: int = 12, seed: int = 3) -> HistoryGenerator:
    gen = HistoryGenerator(seed, chain_id=CHAIN_ID)
    with SeedWriter(db, CHAIN_ID) as writer:
        write(writer, gen.blocks(blocks, txs=4))
    return gen


def test_replayed_position_rolls_the_whole_batch_back(store: Database) -> None:
    """A batch whose tracking write expects a position that has moved on is refused, and the
    rows it wrote go with it."""
    seeded(store)
    projection = ExecutionsProjection()
    with Runner(store, CHAIN_ID, [projection]) as runner:
        done = runner.step(projection, 50).position
    before = count(store, "proj_executions") + count(store, "proj_ratings")
    with store.connect() as conn:
        stale = tracking.Tracking("executions", CHAIN_ID, 0, 0)
        with pytest.raises(TrackingConflict, match="expected position"), conn.transaction():
            projection.apply(conn, CHAIN_ID, done, done + 200)  # new rows...
            tracking.move(conn, stale, done + 200, 0)  # ...from a position that is not 0 now
    assert count(store, "proj_executions") + count(store, "proj_ratings") == before


def test_out_of_order_position_is_refused(store: Database) -> None:
    """Moving a position backwards without a newer reorg is refused, and so is standing still."""
    seeded(store)
    with store.connect() as conn, conn.transaction():
        now = tracking.move(conn, tracking.read(conn, "lineage", CHAIN_ID), 80, 0)
        for position in (40, 80):
            with pytest.raises(TrackingConflict), conn.transaction():
                tracking.move(conn, now, position, 0)
        assert tracking.read(conn, "lineage", CHAIN_ID).last_position == 80


def test_crash_before_commit_leaves_rows_and_position_together(store: Database) -> None:
    """A step that dies after writing and before committing leaves no row and no position."""

    def die(_name: str, _step: Step) -> None:
        raise RuntimeError("killed")

    seeded(store)
    with Runner(store, CHAIN_ID, before_commit=die) as runner, pytest.raises(RuntimeError):
        runner.step(runner.projections[1], 10_000)
    assert count(store, "proj_executions") == 0
    assert count(store, "projection_tracking") == 0


def test_one_runner_per_chain(store: Database) -> None:
    """A second runner on the same chain is refused at once; another chain's is not."""
    with Runner(store, CHAIN_ID):
        with pytest.raises(WriterLockHeld):
            Runner(store, CHAIN_ID)
        Runner(store, CHAIN_ID + 1).close()


def test_rebuild_replays_to_the_same_digest_and_status_reports_lag(store: Database) -> None:
    """rebuild empties and replays one projection (or all) to identical content; status shows
    each one's position and what it still has to apply."""
    gen = HistoryGenerator(5, chain_id=CHAIN_ID)
    blocks = gen.blocks(10, txs=4)
    with SeedWriter(store, CHAIN_ID) as writer:
        write(writer, blocks)
    rebuild(store)
    first = db_digests(store, 10)
    assert first == memory_digests(blocks, 10)
    assert rebuild(store, "curation") == {"curation": status(store)[3].last_position}
    assert db_digests(store, 10) == first
    with SeedWriter(store, CHAIN_ID) as writer:
        more = gen.blocks(2, txs=4)
        write(writer, more)
    rows = {s.name: s for s in status(store)}
    added = sum(len(b.rows) for b in more)
    assert all(s.lag == added and not s.reorg_pending for s in rows.values())
    assert rows["models"].last_block == 10
