"""Scripted forks on a fake chain: every scenario ends equal to a clean index of the winner."""

from __future__ import annotations

import pytest

from artisan.indexer.errors import DeepReorgError
from artisan.storage.database import Database
from artisan.testing.fake_chain import FakeChain, FakeChainSource

from .indexer_support import assert_equals_clean_index, make_indexer, table_counts


@pytest.mark.parametrize("depth", [1, 2, 3, 10, 64])
def test_reorg_of_depth(fresh_db: Database, depth: int) -> None:
    """A reorg of depth 1, 2, 3, 10 or 64 is traced to its ancestor, recorded and re-indexed."""
    chain = FakeChain()
    chain.mine(100)
    source = FakeChainSource(chain)
    with make_indexer(fresh_db, source, finality_depth=100) as indexer:
        indexer.backfill()
        old_tip = chain.head
        chain.reorg(depth)
        progress = indexer.step()
        assert progress.kind == "reorg" and progress.reorg is not None
        assert progress.reorg.depth == depth
        assert progress.reorg.ancestor.number == old_tip.number - depth
        assert len(progress.reorg.orphaned_hashes) == depth
        assert progress.reorg.removed_events == depth * chain.logs_per_block
        indexer.catch_up()
    assert_equals_clean_index(fresh_db, chain)


def test_reorg_to_a_shorter_chain(fresh_db: Database) -> None:
    """A new branch shorter than the old one (same-height or lower head) is still followed."""
    chain = FakeChain()
    chain.mine(30)
    with make_indexer(fresh_db, FakeChainSource(chain)) as indexer:
        indexer.backfill()
        chain.reorg(5, new_blocks=2)
        assert indexer.catch_up().checkpoint.hash == chain.head.hash
        chain.reorg(1, new_blocks=1)
        indexer.catch_up()
    assert_equals_clean_index(fresh_db, chain)


def test_back_to_back_forks(fresh_db: Database) -> None:
    """Forks in a row, with and without indexing between, and one back to an old branch."""
    chain = FakeChain()
    chain.mine(40)
    with make_indexer(fresh_db, FakeChainSource(chain)) as indexer:
        indexer.backfill()
        old_branch_head = chain.head.hash
        chain.reorg(4)
        indexer.catch_up()
        chain.reorg(3)
        chain.reorg(6)
        indexer.catch_up()
        chain.set_head(old_branch_head)  # the first branch wins after all
        indexer.catch_up()
        assert_equals_clean_index(fresh_db, chain)
        chain.reorg(2)
        chain.mine(5)
        indexer.catch_up()
    assert_equals_clean_index(fresh_db, chain)


def test_reorg_between_the_calls_of_one_batch(fresh_db: Database) -> None:
    """The chain forks after a batch's headers are read and before its logs: it is refetched."""
    chain = FakeChain()
    chain.mine(20)
    source = FakeChainSource(chain)
    with make_indexer(fresh_db, source) as indexer:
        indexer.backfill()
        chain.mine(10)
        forked = False

        def fork_once(method: str) -> None:
            nonlocal forked
            if method == "block_logs" and not forked:
                forked = True
                chain.reorg(15)

        source.before_call = fork_once
        indexer.catch_up()
        assert forked
    assert_equals_clean_index(fresh_db, chain)


@pytest.mark.parametrize("serves_orphans", [False, True], ids=["anvil-like", "geth-like"])
def test_reorg_inside_one_header_batch(fresh_db: Database, serves_orphans: bool) -> None:
    """A header batch torn by a reorg half-way (old blocks, then new ones) is refetched."""
    chain = FakeChain()
    chain.mine(20)
    source = FakeChainSource(chain, serves_orphans=serves_orphans)
    with make_indexer(fresh_db, source, range_size=40) as indexer:
        indexer.backfill()
        chain.mine(30)
        torn = False

        def tear(number: int) -> None:
            nonlocal torn
            if number == 35 and not torn:
                torn = True
                chain.reorg(chain.head.number - 30)  # fork at 30, inside the batch 21..50

        source.on_header = tear
        indexer.catch_up()
        assert torn
    assert_equals_clean_index(fresh_db, chain)


def test_fork_at_restart(fresh_db: Database) -> None:
    """A fork that happened while the indexer was down is found when it starts again."""
    chain = FakeChain()
    chain.mine(50)
    with make_indexer(fresh_db, FakeChainSource(chain), finality_depth=30) as first:
        first.backfill()
    chain.reorg(12)
    chain.mine(100)  # the fork point is now deep behind the head
    with make_indexer(fresh_db, FakeChainSource(chain), finality_depth=30) as second:
        progress = second.step()
        assert progress.kind == "reorg" and progress.reorg is not None
        assert progress.reorg.depth == 12
        second.catch_up()
    assert_equals_clean_index(fresh_db, chain, finality_depth=30)


def test_fork_below_finality_halts_and_writes_nothing(fresh_db: Database) -> None:
    """A fork under a finalized block raises DeepReorgError and leaves the store untouched."""
    chain = FakeChain()
    chain.mine(60)
    with make_indexer(fresh_db, FakeChainSource(chain), finality_depth=5) as indexer:
        indexer.backfill()
        before = table_counts(fresh_db)
        checkpoint = indexer.checkpoint
        chain.reorg(20)
        with pytest.raises(DeepReorgError, match="forked below finalized block"):
            indexer.catch_up()
        assert table_counts(fresh_db) == before
        assert indexer.checkpoint == checkpoint
