"""The epoch job: closes final epochs only, once each, and stores provable leaves."""

from __future__ import annotations

from artisan.audit.verify import memory_root, replay
from artisan.domain import merkle
from artisan.projections.rewards.closing import close_final_epochs, epoch_leaves, proof_for
from artisan.projections.rewards.epochs import RewardConfig
from artisan.projections.runner import run_once
from artisan.storage.database import Database
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import DEFAULT_MIX, HistoryGenerator

from .support import CHAIN_ID, events_of, write

CONFIG = RewardConfig(genesis_block=1, epoch_length=10, default_pool=10**21, pools={2: 5 * 10**20})


def seeded(store: Database, blocks: int = 40) -> HistoryGenerator:
    gen = HistoryGenerator(11, chain_id=CHAIN_ID)
    with SeedWriter(store, CHAIN_ID) as writer:
        write(writer, gen.blocks(blocks, txs=5))
    return gen


def test_only_final_caught_up_epochs_close(store: Database) -> None:
    """Nothing closes before the projections have applied an epoch's blocks, nor before its
    end is past the finality depth; then each such epoch closes once."""
    seeded(store)  # indexed up to block 40
    assert close_final_epochs(store, CHAIN_ID, CONFIG, finality_depth=5) == []
    run_once(store, CHAIN_ID)
    closed = close_final_epochs(store, CHAIN_ID, CONFIG, finality_depth=5)
    assert [(c.epoch, c.from_block, c.to_block) for c in closed] == [
        (1, 1, 10),
        (2, 11, 20),
        (3, 21, 30),
    ]
    assert [c.pool for c in closed] == [10**21, 5 * 10**20, 10**21]
    assert close_final_epochs(store, CHAIN_ID, CONFIG, finality_depth=5) == []


def test_leaves_carry_proofs_of_the_rule_root(store: Database) -> None:
    """Every stored leaf proves its way to the epoch's root, which is the root the reward rule
    gives from the chain's events in memory; leaves are sorted by account and sum to total."""
    gen = HistoryGenerator(11, chain_id=CHAIN_ID)
    blocks = gen.blocks(40, txs=5)
    with SeedWriter(store, CHAIN_ID) as writer:
        write(writer, blocks)
    run_once(store, CHAIN_ID)
    closed = close_final_epochs(store, CHAIN_ID, CONFIG, finality_depth=5)
    twins = replay(events_of(blocks))
    with store.connect() as conn:
        for epoch in closed:
            assert (epoch.root, epoch.total) == memory_root(twins, CONFIG, epoch.epoch, epoch.pool)
            leaves = epoch_leaves(conn, epoch.epoch)
            assert [leaf.account for leaf in leaves] == sorted(leaf.account for leaf in leaves)
            assert sum(leaf.amount for leaf in leaves) == epoch.total <= epoch.pool
            assert epoch.root is not None and leaves
            for leaf in leaves:
                value = merkle.RewardLeaf(leaf.epoch, leaf.account, leaf.amount)
                proof = [bytes.fromhex(p[2:]) for p in leaf.proof]
                assert merkle.verify_leaf(bytes.fromhex(epoch.root[2:]), value, proof)
            first = leaves[0]
            assert proof_for(conn, epoch.epoch, first.account.upper().replace("0X", "0x")) == first


def test_claimed_events_mark_leaves(store: Database) -> None:
    """A Claimed event for a leaf marks it claimed; the others stay open."""
    gen = HistoryGenerator(11, chain_id=CHAIN_ID, mix={**DEFAULT_MIX, "epoch": 0})
    with SeedWriter(store, CHAIN_ID) as writer:
        write(writer, gen.blocks(40, txs=5))
        run_once(store, CHAIN_ID)
        close_final_epochs(store, CHAIN_ID, CONFIG, finality_depth=5)
        with store.connect() as conn:
            leaves = epoch_leaves(conn, 1)
        first = leaves[0]
        claim = {"epoch": 1, "account": first.account, "amount": first.amount}
        write(writer, [gen.mine([("Claimed", claim)])])
    run_once(store, CHAIN_ID)
    with store.connect() as conn:
        marked = epoch_leaves(conn, 1)
    assert [leaf.claimed for leaf in marked] == [True] + [False] * (len(marked) - 1)
