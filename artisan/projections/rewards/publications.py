"""The reward publisher's reads and writes: pending epochs and the transactions signed for them.

Every function takes the publisher's lock connection (autocommit, see ``storage.writer_lock``):
a transaction is recorded before it is broadcast, so a crash at any point leaves what is
needed to send the same bytes again rather than sign the same intent twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from artisan.chain.transactions import SignedTx

STEPS = ("mint", "approve", "publish")


@dataclass(frozen=True, slots=True)
class PendingEpoch:
    """A closed epoch with a root whose publication is not final yet."""

    epoch: int
    from_block: int
    to_block: int
    total: int
    root: str


@dataclass(frozen=True, slots=True)
class Attempt:
    """Every open transaction signed for one step of an epoch at one nonce (the original and
    its fee-bumped replacements, oldest first): at most one of them can ever be mined."""

    epoch: int
    step: str
    publisher: str
    nonce: int
    txs: tuple[SignedTx, ...]
    age: float  # seconds since the latest was signed, by the database's clock

    @property
    def latest(self) -> SignedTx:
        return self.txs[-1]


def pending_epochs(conn: psycopg.Connection[Any]) -> list[PendingEpoch]:
    rows = conn.execute(
        "SELECT epoch, from_block, to_block, total, root FROM reward_epochs"
        " WHERE root IS NOT NULL AND publish_tx IS NULL ORDER BY epoch"
    ).fetchall()
    return [PendingEpoch(int(e), int(f), int(t), int(total), r) for e, f, t, total, r in rows]


_OPEN = """
SELECT step, publisher, nonce,
       array_agg(tx_hash ORDER BY signed_at, tx_hash),
       array_agg(raw ORDER BY signed_at, tx_hash),
       array_agg(max_fee::text ORDER BY signed_at, tx_hash),
       array_agg(priority_fee::text ORDER BY signed_at, tx_hash),
       extract(epoch FROM now() - max(signed_at))::float8
FROM reward_publication_txs
WHERE epoch = %s AND status = 'open'
GROUP BY step, publisher, nonce
ORDER BY nonce
"""


def open_attempts(conn: psycopg.Connection[Any], epoch: int) -> list[Attempt]:
    """Every open attempt of ``epoch``, whichever key signed it, in nonce order."""
    out = []
    for step, publisher, nonce, hashes, raws, max_fees, tips, age in conn.execute(
        _OPEN, (epoch,)
    ).fetchall():
        txs = tuple(
            SignedTx(h, bytes(r), int(nonce), int(f), int(t))
            for h, r, f, t in zip(hashes, raws, max_fees, tips, strict=True)
        )
        out.append(Attempt(epoch, step, publisher, int(nonce), txs, float(age)))
    return out


def record(
    conn: psycopg.Connection[Any], epoch: int, step: str, publisher: str, tx: SignedTx
) -> None:
    """Record a signed transaction of ``step`` (before it is broadcast)."""
    conn.execute(
        "INSERT INTO reward_publication_txs"
        " (tx_hash, epoch, step, publisher, nonce, raw, max_fee, priority_fee)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (tx.tx_hash, epoch, step, publisher, tx.nonce, tx.raw, tx.max_fee, tx.priority_fee),
    )


def close_attempt(conn: psycopg.Connection[Any], attempt: Attempt, status: str) -> None:
    """Mark every transaction of ``attempt`` ``lost`` or ``reverted``: it will never land."""
    conn.execute(
        "UPDATE reward_publication_txs SET status = %s WHERE tx_hash = ANY(%s)",
        (status, [t.tx_hash for t in attempt.txs]),
    )


def mark_final(conn: psycopg.Connection[Any], epoch: int, tx_hash: str, block_number: int) -> None:
    """The epoch's publishEpoch is final on chain: the publication is done."""
    conn.execute(
        "UPDATE reward_epochs SET publish_tx = %s, publish_block = %s WHERE epoch = %s",
        (tx_hash, block_number, epoch),
    )


def publish_hashes(conn: psycopg.Connection[Any], epoch: int) -> list[str]:
    """Every publishEpoch transaction signed for ``epoch``, newest first."""
    rows = conn.execute(
        "SELECT tx_hash FROM reward_publication_txs WHERE epoch = %s AND step = 'publish'"
        " ORDER BY signed_at DESC, tx_hash",
        (epoch,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def attempts_of(conn: psycopg.Connection[Any], epoch: int) -> Sequence[tuple[str, int, str]]:
    """(step, nonce, status) of every transaction signed for ``epoch``, in signing order."""
    return [
        (str(s), int(n), str(st))
        for s, n, st in conn.execute(
            "SELECT step, nonce, status FROM reward_publication_txs WHERE epoch = %s"
            " ORDER BY signed_at, tx_hash",
            (epoch,),
        ).fetchall()
    ]


@dataclass(frozen=True, slots=True)
class Progress:
    """How far publishing has come: the newest epoch closed, the newest whose publication is
    final, and how many closed roots wait to be published (a heartbeat's figures)."""

    last_closed: int | None
    last_published: int | None
    unpublished: int


def progress(conn: psycopg.Connection[Any]) -> Progress:
    row = conn.execute(
        "SELECT max(epoch), max(epoch) FILTER (WHERE publish_tx IS NOT NULL),"
        " count(*) FILTER (WHERE root IS NOT NULL AND publish_tx IS NULL) FROM reward_epochs"
    ).fetchone()
    if row is None:
        return Progress(None, None, 0)
    closed, published, unpublished = row
    return Progress(
        None if closed is None else int(closed),
        None if published is None else int(published),
        int(unpublished),
    )
