"""The emitter's reads and writes of the outbox tables, each one transaction.

Every function takes the emitter's lock connection (autocommit, see ``emit_lock``): a write
made without the lock could race a second emitter for the same nonces. Rows move
pending → broadcast (assigned to a persisted, signed batch) → confirmed | rejected, or back to
pending when their batch's nonce went to another transaction or the batch reverted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg

from artisan.chain.abi.ledger import Outcome
from artisan.chain.transactions import SignedTx
from artisan.emitter.errors import OutboxConflict


@dataclass(frozen=True, slots=True)
class EmitterKey:
    """Whose batches: one chain, one ledger, one operator key (lowercase addresses)."""

    chain_id: int
    ledger: str
    operator: str


@dataclass(frozen=True, slots=True)
class OpenBatch:
    """A batch not yet final, with its latest transaction and how long ago that was signed
    (its signed bytes are read only when they are sent again: ``latest_tx``)."""

    id: int
    nonce: int
    size: int
    mined: bool
    block_number: int | None
    block_hash: str | None
    tx_hashes: tuple[str, ...]  # every transaction signed for this nonce, oldest first
    latest: str  # the hash of the latest one signed; once mined, of the one mined
    latest_age: float  # seconds, by the database's clock


_CLAIM = """
SELECT execution_id, item_abi, created_at <= now() - %s AS due
FROM outbox_executions
WHERE chain_id = %s AND ledger = %s AND operator = %s AND status = 'pending'
ORDER BY created_at, execution_id
LIMIT %s
"""


def claim(
    conn: psycopg.Connection[Any], key: EmitterKey, limit: int, max_wait: float
) -> list[tuple[bytes, bytes]]:
    """The oldest pending executions (id, encoded item) if a batch is due: ``limit`` of them,
    or the oldest has waited ``max_wait`` seconds; else nothing. Only a read:
    ``persist_batch`` assigns them."""
    rows = conn.execute(
        _CLAIM,
        (timedelta(seconds=max_wait), key.chain_id, key.ledger, key.operator, limit),
    ).fetchall()
    if not rows or (len(rows) < limit and not rows[0][2]):
        return []
    return [(r[0], r[1]) for r in rows]


# Execution ids travel as one bytea of 32-byte slices, split in SQL: psycopg dumps a list of
# 500 bytea values in Python in about 5 ms, one blob in well under 1 ms.
_IDS = (
    "(SELECT substring(%(ids)s::bytea FROM 32 * i + 1 FOR 32) "
    "FROM generate_series(0, %(n)s::int - 1) i)"
)


def prefer_lz4(conn: psycopg.Connection[Any]) -> bool:
    """Compress what this session stores with lz4 where the server has it (False: pglz).

    A batch's signed transaction (~320 KB for 500 items) is stored before it is sent: pglz
    takes the server about 5 ms of CPU to compress it, lz4 under 0.5 ms, and lz4's copy is
    smaller too (~105 KB against ~120 KB). A session setting, so the schema stays as it is.
    """
    try:
        conn.execute("SET default_toast_compression = 'lz4'")
    except psycopg.errors.InvalidParameterValue:  # a server built without lz4
        return False
    return True


def max_nonce(conn: psycopg.Connection[Any], key: EmitterKey) -> int | None:
    """The highest nonce this operator ever persisted a batch under on this chain."""
    row = conn.execute(
        "SELECT max(nonce) FROM outbox_batches WHERE chain_id = %s AND operator = %s",
        (key.chain_id, key.operator),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def persist_batch(
    conn: psycopg.Connection[Any], key: EmitterKey, ids: Sequence[bytes], tx: SignedTx
) -> int:
    """Record a signed batch and assign its executions to it, before it is broadcast."""
    # Pipelined: one round trip for the writes and one for the commit, instead of five. The
    # statements after the first find the new batch's id with currval (session-local).
    with conn.pipeline() as pipeline, conn.transaction():
        inserted = conn.execute(
            "INSERT INTO outbox_batches (chain_id, ledger, operator, nonce, size, tx_hash) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (key.chain_id, key.ledger, key.operator, tx.nonce, len(ids), tx.tx_hash),
        )
        _insert_tx(conn, None, tx)
        # "batch_id IS NULL" is "status = 'pending'" (the table's CHECK), written so that the
        # planner cannot use the partial index of pending rows: it then looks each id up by
        # primary key, 500 lookups whatever the statistics say. Offered that index, it read
        # every pending row when the statistics were stale (20,000 of them: 24 ms, not 5 ms;
        # 150 ms with ANY).
        updated = conn.execute(
            f"UPDATE outbox_executions SET status = 'broadcast', batch_id = {_NEW_BATCH}, "
            f"attempts = attempts + 1, updated_at = now() WHERE execution_id IN {_IDS} "
            "AND batch_id IS NULL",
            {"ids": b"".join(ids), "n": len(ids)},
        )
        pipeline.sync()
        if updated.rowcount != len(ids):
            # Only this emitter moves pending rows: anything else is a second writer.
            raise OutboxConflict(
                f"nonce {tx.nonce}: {len(ids) - updated.rowcount} executions were no longer pending"
            )
        row = inserted.fetchone()
    assert row is not None
    return int(row[0])


_NEW_BATCH = "currval(pg_get_serial_sequence('outbox_batches', 'id'))"


def _insert_tx(conn: psycopg.Connection[Any], batch_id: int | None, tx: SignedTx) -> None:
    """Insert a signed transaction of ``batch_id`` (None: the batch just inserted)."""
    conn.execute(
        "INSERT INTO outbox_transactions (tx_hash, batch_id, raw, max_fee, priority_fee) "
        f"VALUES (%s, coalesce(%s, {_NEW_BATCH}), %s, %s, %s)",
        (tx.tx_hash, batch_id, tx.raw, tx.max_fee, tx.priority_fee),
    )


def add_replacement(conn: psycopg.Connection[Any], batch_id: int, tx: SignedTx) -> None:
    """Record a fee-bumped replacement (same nonce) before it is broadcast."""
    with conn.transaction():
        _insert_tx(conn, batch_id, tx)
        conn.execute(
            "UPDATE outbox_batches SET tx_hash = %s, updated_at = now() WHERE id = %s",
            (tx.tx_hash, batch_id),
        )


_OPEN = """
SELECT b.id, b.nonce, b.size, b.status = 'mined', b.block_number, b.block_hash,
       array_agg(t.tx_hash ORDER BY t.signed_at, t.tx_hash),
       l.tx_hash, extract(epoch FROM now() - l.signed_at)::float8
FROM outbox_batches b
JOIN outbox_transactions t ON t.batch_id = b.id
JOIN outbox_transactions l ON l.tx_hash = b.tx_hash
WHERE b.chain_id = %s AND b.ledger = %s AND b.operator = %s
  AND b.status IN ('broadcast', 'mined')
GROUP BY b.id, l.tx_hash
ORDER BY b.nonce
"""


def open_batches(conn: psycopg.Connection[Any], key: EmitterKey) -> list[OpenBatch]:
    # Without the signed bytes: read on every pass, they were most of what this read cost.
    rows = conn.execute(_OPEN, (key.chain_id, key.ledger, key.operator)).fetchall()
    return [
        OpenBatch(
            id=r[0], nonce=int(r[1]), size=r[2], mined=r[3], block_number=r[4],
            block_hash=r[5], tx_hashes=tuple(r[6]), latest=r[7], latest_age=float(r[8]),
        )
        for r in rows
    ]  # fmt: skip


def latest_tx(conn: psycopg.Connection[Any], batch: OpenBatch) -> SignedTx:
    """The batch's latest signed transaction, to send again or to replace."""
    row = conn.execute(
        "SELECT raw, max_fee, priority_fee FROM outbox_transactions WHERE tx_hash = %s",
        (batch.latest,),
    ).fetchone()
    assert row is not None  # open_batches found the batch joined to this row
    return SignedTx(tx_hash=batch.latest, raw=bytes(row[0]), nonce=batch.nonce,
                    max_fee=int(row[1]), priority_fee=int(row[2]))  # fmt: skip


def set_mined(
    conn: psycopg.Connection[Any], batch_id: int, tx_hash: str, number: int, block_hash: str
) -> None:
    conn.execute(
        "UPDATE outbox_batches SET status = 'mined', tx_hash = %s, block_number = %s, "
        "block_hash = %s, updated_at = now() WHERE id = %s",
        (tx_hash, number, block_hash, batch_id),
    )


def set_unmined(conn: psycopg.Connection[Any], batch_id: int) -> None:
    """Its block left the canonical chain: the batch is in flight again."""
    conn.execute(
        "UPDATE outbox_batches SET status = 'broadcast', block_number = NULL, "
        "block_hash = NULL, updated_at = now() WHERE id = %s",
        (batch_id,),
    )


def requeue(conn: psycopg.Connection[Any], batch_id: int, status: str) -> int:
    """Close a batch as ``lost`` or ``reverted`` and put its executions back to pending."""
    with conn.transaction():
        conn.execute(
            "UPDATE outbox_batches SET status = %s, updated_at = now() WHERE id = %s",
            (status, batch_id),
        )
        return _release(conn, batch_id).rowcount


def _release(conn: psycopg.Connection[Any], batch_id: int) -> psycopg.Cursor[Any]:
    """Put the batch's undecided executions back to pending (rowcount: how many)."""
    return conn.execute(
        "UPDATE outbox_executions SET status = 'pending', batch_id = NULL, updated_at = now() "
        "WHERE batch_id = %s AND status = 'broadcast'",
        (batch_id,),
    )


_FINALIZE = """
UPDATE outbox_executions e
SET status = CASE WHEN u.reason = 0 THEN 'confirmed' ELSE 'rejected' END,
    reject_reason = nullif(u.reason, 0), cost = nullif(u.cost, '')::numeric,
    tx_hash = %(tx)s, block_number = %(number)s, block_hash = %(hash)s, updated_at = now()
FROM (SELECT substring(%(ids)s::bytea FROM (32 * i - 31)::int FOR 32) AS id,
             r::smallint AS reason, c AS cost
      FROM unnest(string_to_array(%(reasons)s, ','), string_to_array(%(costs)s, ','))
           WITH ORDINALITY AS x(r, c, i)) u
WHERE e.execution_id = u.id AND e.batch_id = %(batch)s AND e.status = 'broadcast'
"""


def finalize(
    conn: psycopg.Connection[Any],
    batch: OpenBatch,
    tx_hash: str,
    number: int,
    block_hash: str,
    outcomes: Sequence[Outcome],
) -> int:
    """Write each execution's final outcome and close the batch; return how many executions
    had no outcome in the receipt (they go back to pending: a batch answers for every item,
    so this only happens if the chain and the outbox disagree)."""
    # One statement per transaction the outcomes come from: this batch's, and rarely an
    # earlier one's (NONCE_USED for an execution that an earlier attempt got through).
    groups: dict[tuple[str, int, str], list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault((o.tx_hash, o.block_number, o.block_hash), []).append(o)
    with conn.pipeline(), conn.transaction():  # one round trip: nothing is read in between
        for (tx, n, h), group in groups.items():
            conn.execute(
                _FINALIZE,
                {
                    "tx": tx, "number": n, "hash": h, "batch": batch.id,
                    "ids": b"".join(o.execution_id for o in group),
                    "reasons": ",".join("0" if o.reason is None else str(int(o.reason))
                                        for o in group),
                    "costs": ",".join("" if o.cost is None else str(o.cost) for o in group),
                },
            )  # fmt: skip
        conn.execute(
            "UPDATE outbox_batches SET status = 'done', tx_hash = %s, block_number = %s, "
            "block_hash = %s, updated_at = now() WHERE id = %s",
            (tx_hash, number, block_hash, batch.id),
        )
        released = _release(conn, batch.id)
    return released.rowcount


def has_work(conn: psycopg.Connection[Any], key: EmitterKey) -> bool:
    """Whether anything is pending or in flight for this key."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM outbox_executions WHERE chain_id = %s AND ledger = %s "
        "AND operator = %s AND status = 'pending') OR EXISTS (SELECT 1 FROM outbox_batches "
        "WHERE chain_id = %s AND ledger = %s AND operator = %s "
        "AND status IN ('broadcast', 'mined'))",
        (key.chain_id, key.ledger, key.operator) * 2,
    ).fetchone()
    return bool(row and row[0])


@dataclass(frozen=True, slots=True)
class Backlog:
    """What an emitter key has in the outbox that is not final yet."""

    chain_id: int
    ledger: str
    operator: str
    pending: int  # in no batch yet
    broadcast: int  # in a batch sent and not yet final
    oldest_pending_s: float  # how long the oldest pending one has waited (0: none)


# Both partial indexes of outbox_executions cover these rows (pending, broadcast): the read
# never walks the confirmed history.
_BACKLOG = """
SELECT chain_id, ledger, operator,
       count(*) FILTER (WHERE status = 'pending'),
       count(*) FILTER (WHERE status = 'broadcast'),
       coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending')),
                0)::float8
FROM outbox_executions
WHERE status IN ('pending', 'broadcast') {where}
GROUP BY chain_id, ledger, operator
ORDER BY chain_id, ledger, operator
"""


def backlog(conn: psycopg.Connection[Any], key: EmitterKey) -> Backlog:
    """The backlog of one key (zeros when it has none)."""
    query = _BACKLOG.format(where="AND chain_id = %s AND ledger = %s AND operator = %s")
    row = conn.execute(query, (key.chain_id, key.ledger, key.operator)).fetchone()
    return Backlog(*row) if row else Backlog(key.chain_id, key.ledger, key.operator, 0, 0, 0.0)


def backlogs(conn: psycopg.Connection[Any]) -> list[Backlog]:
    """The backlog of every key that has one."""
    return [Backlog(*row) for row in conn.execute(_BACKLOG.format(where="")).fetchall()]
