"""The event store's guarantees: append-only under reorgs, one writer, notifications."""

from __future__ import annotations

import time

import orjson
import pytest

from artisan.errors import StorageError
from artisan.indexer.errors import IndexerAlreadyRunning
from artisan.storage.chain_records import Checkpoint
from artisan.storage.database import Database
from artisan.storage.event_reader import live_events, stored_checkpoint
from artisan.storage.event_store import CheckpointMoved, EventStore
from artisan.testing.fake_chain import FakeChain, FakeChainSource

from .indexer_support import CHAIN_ID, make_indexer


def test_second_indexer_is_refused_within_a_second(fresh_db: Database) -> None:
    """While one indexer runs, a second on the same chain fails at once; after it, one starts."""
    source = FakeChainSource(FakeChain())
    with make_indexer(fresh_db, source):
        started = time.monotonic()
        with pytest.raises(IndexerAlreadyRunning, match="already running for chain 1"):
            make_indexer(fresh_db, source)
        assert time.monotonic() - started < 1.0
        make_indexer(fresh_db, source, chain_id=2).close()  # another chain is free
    make_indexer(fresh_db, source).close()  # the lock went with the first one's connection


def test_reorg_appends_and_never_edits(fresh_db: Database) -> None:
    """Orphaned events stay in `events` with a removal record; a re-adopted block's come again."""
    chain = FakeChain(logs_per_block=2)
    chain.mine(10)
    with make_indexer(fresh_db, FakeChainSource(chain)) as indexer:
        indexer.backfill()
        branch_a = chain.head.hash
        chain.reorg(3)
        indexer.catch_up()
        chain.set_head(branch_a)
        indexer.catch_up()
    with fresh_db.connect() as conn:
        total = conn.execute("SELECT count(*) FROM events").fetchall()[0][0]
        removals = conn.execute(
            "SELECT reorg_id, count(*) FROM event_removals GROUP BY reorg_id ORDER BY reorg_id"
        ).fetchall()
        reorgs = conn.execute(
            "SELECT id, ancestor_number, depth, cardinality(orphaned_hashes) FROM reorgs"
            " ORDER BY id"
        ).fetchall()
        readopted = conn.execute(
            "SELECT DISTINCT incarnation FROM live_events WHERE block_number > 7"
        ).fetchall()
        live = live_events(conn, CHAIN_ID)
    # 10 blocks, then 4 of branch B, then the 3 of branch A again: 17 blocks' events stored.
    assert total == 2 * 17
    assert [count for _, count in removals] == [2 * 3, 2 * 4]
    assert [(a, d, n) for _, a, d, n in reorgs] == [(7, 3, 3), (7, 4, 4)]
    assert readopted == [(1,)]
    assert [e.block_number for e in live] == sorted(n for n in range(1, 11) for _ in range(2))


def test_checkpoint_guard_rejects_a_stale_writer(fresh_db: Database) -> None:
    """A write that expects a checkpoint another writer has moved is rolled back whole."""
    with fresh_db.connect(autocommit=True) as one, fresh_db.connect(autocommit=True) as two:
        first, second = EventStore(one, CHAIN_ID), EventStore(two, CHAIN_ID)
        start = first.checkpoint(0)
        second.checkpoint(0)
        first.append(start, Checkpoint(5, "0x05"), [], [], finalized_upto=0)
        with pytest.raises(CheckpointMoved, match="another writer"):
            second.append(start, Checkpoint(9, "0x09"), [], [], finalized_upto=0)
        assert stored_checkpoint(one, CHAIN_ID) == Checkpoint(5, "0x05")


def test_projections_are_notified_of_appends_and_reorgs(fresh_db: Database) -> None:
    """Each committed append and reorg sends one notification on `artisan_events`."""
    chain = FakeChain()
    chain.mine(5)
    with fresh_db.connect(autocommit=True) as listener:
        listener.execute("LISTEN artisan_events")
        with make_indexer(fresh_db, FakeChainSource(chain)) as indexer:
            indexer.backfill()
            chain.reorg(2)
            indexer.catch_up()
        payloads = [orjson.loads(n.payload) for n in listener.notifies(timeout=5.0, stop_after=3)]
    assert [p["kind"] for p in payloads] == ["append", "reorg", "append"]
    assert payloads[0] == {"chain_id": CHAIN_ID, "kind": "append", "block": 5, "events": 15}
    assert payloads[1]["ancestor"] == 3 and payloads[1]["removed"] == 6


def test_lost_database_connection_halts_and_a_restart_resumes(fresh_db: Database) -> None:
    """If the writer's session dies (and its lock with it), the indexer halts; a new one resumes."""
    chain = FakeChain()
    chain.mine(10)
    source = FakeChainSource(chain)
    indexer = make_indexer(fresh_db, source)
    indexer.backfill()
    with fresh_db.connect(autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        while admin.execute(  # until the killed session is gone, taking its lock with it
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database ="
            " (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()[0][0]:
            time.sleep(0.01)
    chain.mine(5)
    with pytest.raises(StorageError, match="event store: appending events failed"):
        indexer.step()
    indexer.close()
    with make_indexer(fresh_db, source) as restarted:
        assert restarted.backfill().number == 15
    with fresh_db.connect() as conn:
        assert len(live_events(conn, CHAIN_ID)) == 15 * 3
