"""The epoch job: close each finished epoch once final, store its leaves with proofs.

An epoch is closed when its end block is final (at least ``finality_depth`` blocks under the
indexer's checkpoint, so no reorg the indexer follows can reach it) and the projections it
reads (``models``, ``executions``) have applied every event up to it with no reorg pending.
Closing is one transaction: the epoch row, guarded by its primary key, and every leaf with its
proof. The row is the publication's intent; ``publisher`` puts its root on chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from artisan.domain import merkle
from artisan.projections import positions, tracking
from artisan.projections.errors import EpochError
from artisan.projections.rewards import rule as reward_rule
from artisan.projections.rewards.epochs import RewardConfig, db_inputs
from artisan.storage.database import Database

READS = ("models", "executions")


@dataclass(frozen=True, slots=True)
class ClosedEpoch:
    epoch: int
    from_block: int
    to_block: int
    pool: int
    total: int
    root: str | None
    leaf_count: int
    publish_tx: str | None


def final_block(conn: psycopg.Connection[Any], chain_id: int, finality_depth: int) -> int | None:
    """The highest block no followed reorg can change any more."""
    indexed = positions.indexed_block(conn, chain_id)
    return None if indexed is None else indexed - finality_depth


def caught_up(conn: psycopg.Connection[Any], chain_id: int, block: int) -> bool:
    """Whether the projections the rule reads hold every live event up to ``block``."""
    newest = positions.newest_reorg(conn, chain_id)
    for name in READS:
        now = tracking.read(conn, name, chain_id)
        if now.last_reorg_id < newest:
            return False
        pending = positions.next_live_block(conn, chain_id, now.last_position)
        if pending is not None and pending <= block:
            return False
    return True


def close_epoch(conn: psycopg.Connection[Any], config: RewardConfig, epoch: int) -> ClosedEpoch:
    """Compute and store ``epoch``'s leaves and proofs (in the caller's transaction)."""
    first, last = config.bounds(epoch)
    leaves = reward_rule.leaves(db_inputs(conn, config, epoch))
    total = sum(leaf.amount for leaf in leaves)
    tree = merkle.build(leaves) if leaves else None
    root = None if tree is None else "0x" + tree.root.hex()
    row = conn.execute(
        "INSERT INTO reward_epochs (epoch, from_block, to_block, pool, total, root, leaf_count)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (epoch) DO NOTHING RETURNING epoch",
        (epoch, first, last, config.pool(epoch), total, root, len(leaves)),
    ).fetchone()
    if row is None:
        raise EpochError(f"epoch {epoch} was closed by another job")
    if tree is not None:
        copy = "COPY reward_leaves (epoch, account, amount, proof) FROM STDIN"
        with conn.cursor() as cur, cur.copy(copy) as cp:
            for i, leaf in enumerate(leaves):
                proof = ["0x" + p.hex() for p in tree.proof(i)]
                cp.write_row((epoch, leaf.account, leaf.amount, proof))
    return ClosedEpoch(epoch, first, last, config.pool(epoch), total, root, len(leaves), None)


def close_final_epochs(
    db: Database,
    chain_id: int,
    config: RewardConfig,
    *,
    finality_depth: int,
) -> list[ClosedEpoch]:
    """Close every finished, final epoch not closed yet."""
    closed: list[ClosedEpoch] = []
    with db.connect() as conn:
        while True:
            with conn.transaction():
                row = conn.execute(
                    "SELECT coalesce(max(epoch), 0) + 1 FROM reward_epochs"
                ).fetchone()
                epoch = int(row[0]) if row else 1
                last = config.bounds(epoch)[1]
                final = final_block(conn, chain_id, finality_depth)
                if final is None or last > final or not caught_up(conn, chain_id, last):
                    break
                closed.append(close_epoch(conn, config, epoch))
    return closed


@dataclass(frozen=True, slots=True)
class LeafProof:
    """A leaf as served to a claimant: amount, proof (0x-hex siblings), claimed or not."""

    epoch: int
    account: str
    amount: int
    proof: tuple[str, ...]
    claimed: bool


def proof_for(conn: psycopg.Connection[Any], epoch: int, account: str) -> LeafProof | None:
    """The leaf of ``account`` in ``epoch`` with its proof, None if it has none."""
    found = epoch_leaves(conn, epoch, account.lower())
    return found[0] if found else None


def epoch_leaves(
    conn: psycopg.Connection[Any], epoch: int, account: str | None = None
) -> Sequence[LeafProof]:
    """The leaves of ``epoch`` sorted by account, each marked claimed if a Claimed says so."""
    rows = conn.execute(
        "SELECT l.epoch, l.account, l.amount, l.proof, c.account IS NOT NULL"
        " FROM reward_leaves l LEFT JOIN proj_claims c"
        "   ON c.epoch = l.epoch AND c.account = l.account"
        " WHERE l.epoch = %s AND (%s::text IS NULL OR l.account = %s::text)"
        ' ORDER BY l.account COLLATE "C"',
        (epoch, account, account),
    ).fetchall()
    return [LeafProof(int(e), a, int(m), tuple(p), bool(c)) for e, a, m, p, c in rows]
