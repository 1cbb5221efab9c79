"""Balances: the projection's versions equal the ledger state the history generator tracks on
its own, as of every block, however the history is cut into batches."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest

from artisan.projections.balances import BalancesProjection
from artisan.projections.runner import Runner
from artisan.storage.database import Database
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator, SyntheticBlock

from .support import CHAIN_ID, write

MIX = {
    "register": 2, "remix": 1, "execute": 20, "withdraw": 4, "exit": 6, "epoch": 2, "rate": 1,
}  # fmt: skip


@dataclass(frozen=True)
class Snapshot:
    escrow: dict[str, int]
    owed: dict[str, int]
    requests: dict[str, tuple[int, int]]


def history(
    blocks: int, seed: int
) -> tuple[HistoryGenerator, list[SyntheticBlock], dict[int, Snapshot]]:
    gen = HistoryGenerator(seed, chain_id=CHAIN_ID, mix=MIX)
    mined: list[SyntheticBlock] = []
    states: dict[int, Snapshot] = {}
    for _ in range(blocks):
        block = gen.next_block(txs=6)
        mined.append(block)
        w = gen.actions.world
        states[block.header.number] = Snapshot(
            dict(w.escrow), dict(w.owed), copy.deepcopy(w.requests)
        )
    return gen, mined, states


def balances_at(store: Database, block: int) -> dict[str, tuple[int, int, int, int]]:
    with store.connect() as conn:
        rows = conn.execute(
            "SELECT account, escrow, owed, pending_withdrawal, unlock_at FROM proj_balances"
            " WHERE block_range @> %s::bigint",
            (block,),
        ).fetchall()
    return {r[0]: (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}


def expected(s: Snapshot) -> dict[str, tuple[int, int, int, int]]:
    accounts = set(s.escrow) | set(s.owed) | set(s.requests)
    out = {}
    for a in accounts:
        amount, unlock = s.requests.get(a, (0, 0))
        out[a] = (s.escrow.get(a, 0), s.owed.get(a, 0), amount, unlock)
    return out


@pytest.mark.parametrize("batch_size", [10**9, 37])
def test_balances_as_of_every_block_equal_the_tracked_ledger_state(
    store: Database, batch_size: int
) -> None:
    """Deposits, charges, credits, pulls, withdrawal requests and payouts over 120 blocks:
    as of each block, every account's escrow, owed credits and pending request are exactly
    what the generator's own ledger state holds (one big batch, or many small ones)."""
    _gen, blocks, states = history(120, seed=11)
    with SeedWriter(store, CHAIN_ID) as writer:
        write(writer, blocks)
    with Runner(store, CHAIN_ID, [BalancesProjection()], batch_size=batch_size) as runner:
        runner.catch_up()
    names = {r.event_name for b in blocks for r in b.rows}
    assert {"Deposited", "WithdrawalRequested", "EscrowWithdrawn", "Withdrawn"} <= names
    for number, snapshot in states.items():
        got = balances_at(store, number)
        want = expected(snapshot)
        # Accounts the generator never tracked (only rewarded) hold no escrow or credits.
        assert {a: v for a, v in got.items() if a in want} == want, f"block {number}"
        assert all(v[:3] == (0, 0, 0) for a, v in got.items() if a not in want)


def test_totals_only_grow_and_versions_tile_the_blocks(store: Database) -> None:
    """No balance is ever negative and the totals spent and earned never fall; each account's
    versions are contiguous, with exactly one open."""
    _gen, blocks, _states = history(60, seed=5)
    with SeedWriter(store, CHAIN_ID) as writer:
        write(writer, blocks)
    with Runner(store, CHAIN_ID, [BalancesProjection()], batch_size=50) as runner:
        runner.catch_up()
    with store.connect() as conn:
        broken = conn.execute(
            "SELECT count(*) FROM (SELECT escrow, owed, spent, earned,"
            " lag(spent) OVER w AS spent_before, lag(earned) OVER w AS earned_before"
            " FROM proj_balances WINDOW w AS (PARTITION BY account ORDER BY lower(block_range)))"
            " t WHERE escrow < 0 OR owed < 0 OR spent < spent_before OR earned < earned_before"
        ).fetchone()
        gaps = conn.execute(
            "SELECT count(*) FROM (SELECT upper(block_range) AS up, lead(lower(block_range))"
            " OVER (PARTITION BY account ORDER BY lower(block_range)) AS next FROM proj_balances)"
            " t WHERE next IS NOT NULL AND up IS DISTINCT FROM next"
        ).fetchone()
        open_ = conn.execute(
            "SELECT count(*), count(DISTINCT account) FROM proj_balances"
            " WHERE upper_inf(block_range)"
        ).fetchone()
        versions = conn.execute("SELECT count(*) FROM proj_balances").fetchone()
    assert broken == (0,) and gaps == (0,)
    assert open_ is not None and open_[0] == open_[1] > 0
    assert versions is not None and versions[0] > open_[0]
