"""Pruning: finalized empty blocks go; the reorg window, event blocks and the record stay."""

from __future__ import annotations

import pytest

from artisan.indexer.errors import DeepReorgError
from artisan.indexer.pruning import BlockPruner
from artisan.storage.database import Database
from artisan.testing.fake_chain import FakeChain, FakeChainSource

from .indexer_support import CHAIN_ID, assert_equals_clean_index, make_indexer, table_counts

FINALITY = 10


def _mine(chain: FakeChain, blocks: int) -> None:
    """``blocks`` blocks, every fifth holding two logs."""
    for _ in range(blocks):
        chain.mine(1, logs=2 if (chain.head.number + 1) % 5 == 0 else 0)


def _stored(db: Database) -> tuple[set[int], int, set[int]]:
    """Canonical block numbers, orphaned block rows, numbers of blocks holding live events."""
    with db.connect() as conn:
        canonical = conn.execute(
            "SELECT number FROM blocks WHERE chain_id = %s AND orphaned_by IS NULL", (CHAIN_ID,)
        ).fetchall()
        orphaned = conn.execute(
            "SELECT count(*) FROM blocks WHERE chain_id = %s AND orphaned_by IS NOT NULL",
            (CHAIN_ID,),
        ).fetchall()[0][0]
        with_events = conn.execute(
            "SELECT DISTINCT block_number FROM live_events WHERE chain_id = %s", (CHAIN_ID,)
        ).fetchall()
    return {n for (n,) in canonical}, orphaned, {n for (n,) in with_events}


def test_pruning_keeps_the_reorg_window_and_every_block_with_events(fresh_db: Database) -> None:
    """Only empty finalized blocks go; reorgs still follow exactly, deeper forks still halt."""
    chain = FakeChain()
    _mine(chain, 100)
    with make_indexer(fresh_db, FakeChainSource(chain), finality_depth=FINALITY) as indexer:
        indexer.backfill()
        chain.reorg(3)  # orphans three stored blocks of the window
        indexer.catch_up()
        for _ in range(40):  # followed live: every block goes through the window, stored
            _mine(chain, 1)
            indexer.catch_up()
        before, orphaned_before, _ = _stored(fresh_db)
        pruner = BlockPruner(fresh_db, CHAIN_ID, window=7)  # several windows per run
        deleted = pruner.prune()
        assert pruner.prune() == 0  # nothing new: a second run deletes nothing

        canonical, orphaned, with_events = _stored(fresh_db)
        head = chain.head.number
        boundary = max(n for n in before if n <= head - FINALITY)
        window = set(range(head - FINALITY + 1, head + 1))
        assert canonical == with_events | window | {boundary}
        assert deleted == len(before) - len(canonical) > 30
        assert orphaned == orphaned_before == 3

        chain.reorg(5)
        indexer.catch_up()
        assert_equals_clean_index(fresh_db, chain, finality_depth=FINALITY)

        _mine(chain, 12)
        indexer.catch_up()
        pruner.prune()
        counts = table_counts(fresh_db)
        chain.reorg(FINALITY + 5)  # below the finalized boundary: halts, writes nothing
        with pytest.raises(DeepReorgError):
            indexer.step()
        assert table_counts(fresh_db) == counts
