"""Node faults: ranges adapt, transient errors are retried with jitter, the rest halts."""

from __future__ import annotations

import random

import pytest

from artisan.chain.errors import NodeError, NodeUnavailable
from artisan.indexer.indexer import Progress
from artisan.indexer.ranges import RangeSizer
from artisan.retry import Backoff, RetriesExhausted
from artisan.storage.database import Database
from artisan.testing.fake_chain import FakeChain, FakeChainSource

from .indexer_support import (
    CHAIN_ID,
    assert_equals_clean_index,
    live_rows,
    make_indexer,
    table_counts,
)


def test_range_sizer_halves_on_refusal_and_doubles_on_light_ranges() -> None:
    """The range halves when refused or heavy, doubles after a full light one, within bounds."""
    sizer = RangeSizer(size=64, minimum=4, maximum=256, target_logs=100)
    sizer.succeeded(blocks=64, logs=10)
    assert sizer.size == 128
    sizer.succeeded(blocks=20, logs=10)  # a short range (the head was near): no growth
    assert sizer.size == 128
    sizer.succeeded(blocks=128, logs=500)
    assert sizer.size == 64
    assert sizer.refused() and sizer.size == 32
    while sizer.refused():
        pass
    assert sizer.size == 4 and not sizer.refused()
    for _ in range(10):
        sizer.succeeded(blocks=sizer.size, logs=0)
    assert sizer.size == 256


def test_backfill_adapts_to_a_node_refusing_large_log_queries(fresh_db: Database) -> None:
    """A node that refuses more than 40 logs per query still yields a complete, exact index."""
    chain = FakeChain(logs_per_block=4)
    chain.mine(300)
    chain.mine(1500, logs=0)  # a quiet stretch: the range grows back
    source = FakeChainSource(chain, max_logs=40)
    with make_indexer(fresh_db, source, finality_depth=20, range_size=256) as indexer:
        indexer.ranges = RangeSizer(size=256, maximum=512)
        indexer.backfill()
        assert indexer.ranges.size == 512
    assert_equals_clean_index(fresh_db, chain, finality_depth=20)


def test_pipelined_backfill_reports_progress_and_equals_step_by_step(fresh_db: Database) -> None:
    """A backfill fetched ahead in ranges gives the same store as one block per step."""
    chain = FakeChain()
    chain.mine(150)
    seen: list[Progress] = []
    source = FakeChainSource(chain)
    with make_indexer(fresh_db, source, finality_depth=20, on_progress=seen.append) as indexer:
        indexer.backfill()
    assert [p.kind for p in seen] == ["append"] * len(seen)
    assert sum(p.events for p in seen) == 150 * 3 and seen[-1].checkpoint.number == 150
    stepwise = make_indexer(
        fresh_db, FakeChainSource(chain), chain_id=7, finality_depth=1000, range_size=1
    )
    with stepwise:
        stepwise.backfill()
    assert live_rows(fresh_db, 7) == live_rows(fresh_db, CHAIN_ID)


def test_transient_errors_are_retried_with_jittered_backoff(fresh_db: Database) -> None:
    """With 30% of node calls failing transiently, indexing through reorgs stays exact."""
    chain = FakeChain()
    chain.mine(120)
    rng = random.Random(4)

    def flaky(method: str) -> None:
        if rng.random() < 0.3:
            raise NodeUnavailable(f"{method}: 503 from node")

    delays: list[float] = []
    source = FakeChainSource(chain, before_call=flaky)
    backoff = Backoff(base=0.01, cap=0.2, max_failures=30, rng=random.Random(1))
    with make_indexer(
        fresh_db, source, finality_depth=10, range_size=16, backoff=backoff, sleep=delays.append
    ) as indexer:
        indexer.backfill()
        chain.reorg(5)
        chain.mine(3)
        indexer.catch_up()
    source.before_call = None
    assert len(delays) > 10
    assert all(0 <= d <= 0.2 for d in delays) and len(set(delays)) == len(delays)
    assert_equals_clean_index(fresh_db, chain, finality_depth=10)


def test_deterministic_error_halts_at_once_and_writes_nothing(fresh_db: Database) -> None:
    """A node error that retrying cannot cure is raised on the first failure; nothing is written."""
    chain = FakeChain()
    chain.mine(10)

    def broken(method: str) -> None:
        if method == "headers":
            raise NodeError("eth_getBlockByNumber", -32601, "method not found")

    source = FakeChainSource(chain, before_call=broken)
    with make_indexer(fresh_db, source) as indexer:
        before = table_counts(fresh_db)
        with pytest.raises(NodeError, match="method not found"):
            indexer.backfill()
        assert source.calls["headers"] == 1
        assert table_counts(fresh_db) == before


def test_persistent_transient_errors_give_up_with_a_clear_message(fresh_db: Database) -> None:
    """A node that never recovers makes the indexer halt after its retry budget, saying why."""
    chain = FakeChain()
    chain.mine(5)

    def down(method: str) -> None:
        raise NodeUnavailable(f"{method}: cannot reach http://node.test")

    with (
        make_indexer(fresh_db, FakeChainSource(chain, before_call=down)) as indexer,
        pytest.raises(RetriesExhausted, match=r"giving up after 21 failures.*cannot reach"),
    ):
        indexer.step()


def test_error_on_the_prefetch_thread_surfaces_and_keeps_whole_ranges(fresh_db: Database) -> None:
    """A halt raised while fetching ahead reaches the caller; what was written is whole ranges."""
    chain = FakeChain()
    chain.mine(400)
    calls = 0

    def fails_later(method: str) -> None:
        nonlocal calls
        calls += 1
        if method == "logs" and calls > 12:
            raise NodeError("eth_getLogs", -32602, "invalid params")

    source = FakeChainSource(chain, before_call=fails_later)
    with make_indexer(fresh_db, source, finality_depth=10, range_size=20) as indexer:
        with pytest.raises(NodeError, match="invalid params"):
            indexer.backfill()
        checkpoint = indexer.checkpoint
    assert 0 < checkpoint.number < 390 and (checkpoint.number + 1) % 20 == 0  # from block 0
    rows = live_rows(fresh_db, CHAIN_ID)
    assert len(rows) == 3 * checkpoint.number
    assert rows[-1][0] == checkpoint.number
