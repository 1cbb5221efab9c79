"""Helpers for the indexer tests: build an indexer on a fake chain, compare with a clean index."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg import sql

from artisan.indexer.indexer import Indexer, Progress
from artisan.indexer.ranges import RangeSizer
from artisan.indexer.source import ChainSource
from artisan.retry import Backoff
from artisan.storage.database import Database
from artisan.testing.fake_chain import TOKEN_CONTRACT, FakeChain, FakeChainSource
from tests import waiting

CHAIN_ID = 1
# A chain id for the clean reference index, kept in the same database.
CLEAN_CHAIN_ID = 9_001


def make_indexer(
    db: Database,
    source: ChainSource,
    *,
    chain_id: int = CHAIN_ID,
    finality_depth: int = 128,
    range_size: int = 50,
    start_block: int = 0,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = lambda _s: None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Indexer:
    """An indexer of the fake token on ``source`` that does not really sleep between retries."""
    return Indexer(
        db,
        source,
        chain_id,
        [TOKEN_CONTRACT],
        finality_depth=finality_depth,
        start_block=start_block,
        ranges=RangeSizer(size=range_size, maximum=range_size),
        backoff=backoff or Backoff(base=0.0, max_failures=20),
        sleep=sleep,
        on_progress=on_progress,
    )


def live_rows(db: Database, chain_id: int) -> list[tuple[Any, ...]]:
    """The live events of a chain in position order, without position and chain id."""
    with db.connect() as conn:
        return conn.execute(
            "SELECT block_number, block_hash, block_timestamp, tx_hash, tx_index, log_index,"
            " address, event_name, args, topics, data FROM live_events WHERE chain_id = %s"
            " ORDER BY position",
            (chain_id,),
        ).fetchall()


def clean_index(
    db: Database, chain: FakeChain, finality_depth: int = 128, chain_id: int = CLEAN_CHAIN_ID
) -> list[tuple[Any, ...]]:
    """Index the chain's canonical branch from scratch, as another chain id; its live rows."""
    with make_indexer(
        db, FakeChainSource(chain), chain_id=chain_id, finality_depth=finality_depth
    ) as clean:
        clean.backfill()
    return live_rows(db, chain_id)


def assert_equals_clean_index(
    db: Database,
    chain: FakeChain,
    chain_id: int = CHAIN_ID,
    finality_depth: int = 128,
    clean_chain_id: int = CLEAN_CHAIN_ID,
) -> None:
    """The live store of ``chain_id`` is exactly a clean index of the canonical branch."""
    got = live_rows(db, chain_id)
    want = clean_index(db, chain, finality_depth, clean_chain_id)
    assert want, "a clean index of a chain with logs is not empty"
    assert got == want
    with db.connect() as conn:
        row = conn.execute(
            "SELECT block_number, block_hash FROM indexer_checkpoints WHERE chain_id = %s",
            (chain_id,),
        ).fetchone()
        canonical = conn.execute(
            "SELECT number, hash FROM blocks WHERE chain_id = %s AND orphaned_by IS NULL"
            " ORDER BY number",
            (chain_id,),
        ).fetchall()
    assert row == (chain.head.number, chain.head.hash)
    branch = chain.canonical()
    assert all(branch[n].header.hash == h for n, h in canonical)


def table_counts(db: Database) -> dict[str, int]:
    """Row counts of every event-store table: to show that nothing was written."""
    tables = ["blocks", "events", "event_removals", "reorgs", "indexer_checkpoints"]
    with db.connect() as conn:
        return {
            t: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))
            ).fetchall()[0][0]
            for t in tables
        }


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    waiting.wait_until(condition, timeout, what="the indexer")
