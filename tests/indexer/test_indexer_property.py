"""A property: any script of mining, forks, partial indexing and restarts ends in a clean index."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artisan.indexer.indexer import Indexer
from artisan.storage.database import Database
from artisan.testing.fake_chain import FakeChain, FakeChainSource

from .indexer_support import assert_equals_clean_index, make_indexer

_CHAIN_IDS = itertools.count(100)  # one chain per example: examples share the test's database

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("mine"), st.integers(1, 8)),
        st.tuples(st.just("reorg"), st.integers(1, 6)),
        st.tuples(st.just("back"), st.integers(0, 3)),
        st.tuples(st.just("index"), st.integers(1, 4)),
        st.tuples(st.just("restart"), st.just(0)),
    ),
    min_size=1,
    max_size=14,
)


def _fork_point(chain: FakeChain, other_head: str) -> int:
    """The height where the branch ending at ``other_head`` leaves the canonical one."""
    canonical = chain.canonical()
    block = chain.blocks[other_head].header
    while block.number >= len(canonical) or canonical[block.number].header.hash != block.hash:
        block = chain.blocks[block.parent_hash].header
    return block.number


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_OPS, range_size=st.integers(1, 12), finality_depth=st.integers(8, 40))
def test_any_fork_script_ends_equal_to_a_clean_index(
    fresh_db: Database, ops: list[tuple[str, int]], range_size: int, finality_depth: int
) -> None:
    """Mining, forks (also back to old branches), partial steps and restarts, in any order."""
    chain_id = next(_CHAIN_IDS)
    chain = FakeChain(logs_per_block=2)
    chain.mine(6)
    source = FakeChainSource(chain)
    heads: list[str] = [chain.head.hash]
    highest = chain.head.number  # the store may have finalized up to highest - finality_depth

    def within_finality(fork_point: int) -> bool:
        return fork_point > highest - finality_depth

    def start() -> Indexer:
        return make_indexer(
            fresh_db,
            source,
            chain_id=chain_id,
            finality_depth=finality_depth,
            range_size=range_size,
        )

    indexer = start()
    try:
        for op, n in ops:
            if op == "mine":
                chain.mine(n)
            elif op == "reorg":
                depth = min(n, chain.head.number - 1)
                if within_finality(chain.head.number - depth):
                    chain.reorg(depth)
            elif op == "back":  # an earlier head wins again
                old = heads[n % len(heads)]
                if within_finality(_fork_point(chain, old)):
                    chain.set_head(old)
            elif op == "index":
                for _ in range(n):
                    indexer.step()
            else:
                indexer.close()
                indexer = start()
            heads.append(chain.head.hash)
            highest = max(highest, chain.head.number)
        indexer.catch_up()
    finally:
        indexer.close()
    assert_equals_clean_index(
        fresh_db, chain, chain_id, finality_depth=finality_depth, clean_chain_id=chain_id + 10**6
    )
