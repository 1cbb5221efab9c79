"""The append-only event store: one writer's transactions over blocks, events and checkpoints.

Every method that writes runs one transaction that moves the checkpoint together with the data
it covers, guarded by the checkpoint it expects to find (optimistic concurrency on top of the
writer lock), and notifies projections on ``artisan_events`` before it commits.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import psycopg

from artisan.errors import StorageError
from artisan.storage.chain_records import (
    AppendResult,
    BlockHeader,
    Checkpoint,
    EventRow,
    ReorgRecord,
)
from artisan.storage.copy_text import event_copy_text

NOTIFY_CHANNEL = "artisan_events"
# Sent by the projection runner in each transaction that moves a projection (payload: JSON with
# chain, projection, kind "apply" or "revert", position): delivered when it commits.
PROJECTED_CHANNEL = "artisan_projected"

_STAGING_COLUMNS = (
    "chain_id, block_number, block_hash, block_timestamp, tx_hash, tx_index, log_index,"
    " address, event_name, args, topics, data"
)
_COPY_EVENTS = f"COPY events ({_STAGING_COLUMNS}) FROM STDIN"
_COPY_STAGING = f"COPY events_staging ({_STAGING_COLUMNS}) FROM STDIN"

_CREATE_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS events_staging (
    chain_id bigint, block_number bigint, block_hash text COLLATE "C", block_timestamp bigint,
    tx_hash text COLLATE "C", tx_index integer, log_index integer, address text COLLATE "C",
    event_name text COLLATE "C", args jsonb, topics text[], data text
) ON COMMIT DELETE ROWS
"""

_UPSERT_BLOCKS = """
INSERT INTO blocks (chain_id, hash, number, parent_hash, timestamp, finalized)
SELECT %(chain)s, h, n, p, t, n <= %(final)s
FROM unnest(%(hashes)s::text[], %(numbers)s::bigint[], %(parents)s::text[], %(times)s::bigint[])
     AS b(h, n, p, t)
ON CONFLICT (chain_id, hash) DO UPDATE
    SET orphaned_by = NULL, incarnation = blocks.incarnation + 1
    WHERE blocks.orphaned_by IS NOT NULL
RETURNING incarnation
"""

# Each event takes its block's current incarnation, so a re-adopted block's events are new rows.
_INSERT_EVENTS = f"""
INSERT INTO events ({_STAGING_COLUMNS}, incarnation)
SELECT s.chain_id, s.block_number, s.block_hash, s.block_timestamp, s.tx_hash, s.tx_index,
       s.log_index, s.address, s.event_name, s.args, s.topics, s.data, b.incarnation
FROM events_staging s
JOIN blocks b ON b.chain_id = s.chain_id AND b.hash = s.block_hash
ORDER BY s.block_number, s.log_index
ON CONFLICT DO NOTHING
"""


@contextlib.contextmanager
def _db_errors(what: str) -> Iterator[None]:
    """The driver's errors, translated at this boundary: a lost connection lost the lock too."""
    try:
        yield
    except psycopg.Error as exc:
        raise StorageError(f"event store: {what} failed: {exc}") from exc


_BLOCK_HASH = operator.attrgetter("block_hash")


def _in_chain_order(events: Sequence[EventRow]) -> bool:
    """Whether (block number, log index) strictly increases: chain order, no repeats.

    Keys are single ints (a log index fits the integer column: -2**31 up to 2**31, the
    negative ones being request events), not tuples: a tuple per row wakes the garbage
    collector, which then walks every live row of the batch (ten times the cost of the check
    itself). Added, not or-ed: a negative index or-ed into the block's bits made every batch
    with request events look out of order, and sent it down the staging path.
    """
    keys = [(e.block_number << 32) + e.log_index for e in events]
    return all(map(operator.lt, keys, keys[1:]))


class CheckpointMoved(StorageError):
    """The stored checkpoint is not the one this writer expected: another writer got in."""


class EventStore:
    """The event store of one chain, written through one connection (the writer's).

    The connection must be in autocommit mode: each write opens its own explicit transaction
    (a ``transaction()`` block inside an implicit one would only be a savepoint).
    """

    def __init__(self, conn: psycopg.Connection[Any], chain_id: int) -> None:
        if not conn.autocommit:
            raise StorageError("EventStore needs an autocommit connection")
        self.conn = conn
        self.chain_id = chain_id
        with _db_errors("preparing the writer"), conn.transaction():
            conn.execute(_CREATE_STAGING)

    def checkpoint(self, start_block: int) -> Checkpoint:
        """The stored checkpoint, created at ``start_block - 1`` on first use."""
        with _db_errors("reading the checkpoint"), self.conn.transaction():
            self.conn.execute(
                "INSERT INTO indexer_checkpoints (chain_id, block_number) VALUES (%s, %s)"
                " ON CONFLICT (chain_id) DO NOTHING",
                (self.chain_id, start_block - 1),
            )
            row = self.conn.execute(
                "SELECT block_number, block_hash FROM indexer_checkpoints WHERE chain_id = %s",
                (self.chain_id,),
            ).fetchone()
        assert row is not None
        return Checkpoint(row[0], row[1])

    def canonical_blocks(self, below: int, limit: int) -> list[tuple[BlockHeader, bool]]:
        """Stored canonical blocks under ``below``, highest first, each with its finalized flag."""
        with _db_errors("reading stored blocks"):
            rows = self.conn.execute(
                "SELECT number, hash, parent_hash, timestamp, finalized FROM blocks"
                " WHERE chain_id = %s AND orphaned_by IS NULL AND number < %s"
                " ORDER BY number DESC LIMIT %s",
                (self.chain_id, below, limit),
            ).fetchall()
        return [(BlockHeader(r[0], r[1], r[2], r[3]), r[4]) for r in rows]

    def append(
        self,
        expected: Checkpoint,
        new: Checkpoint,
        blocks: Sequence[BlockHeader],
        events: Sequence[EventRow],
        finalized_upto: int,
        *,
        copy_text: bytes | None = None,
    ) -> AppendResult:
        """Store a verified range's blocks and events and move the checkpoint, atomically.

        Every event's block must be among ``blocks``: an event takes its block's incarnation.
        ``copy_text``: the events already encoded (``event_copy_text(events)``), as a
        backfill does on its decode thread, off the writer's path.
        """
        if not {b.hash for b in blocks}.issuperset(map(_BLOCK_HASH, events)):
            raise ValueError("an event's block is missing from the blocks appended with it")
        conn = self.conn
        with _db_errors("appending events"), conn.transaction():
            self._move_checkpoint(expected, new)
            incarnations = conn.execute(
                _UPSERT_BLOCKS,
                {
                    "chain": self.chain_id,
                    "final": finalized_upto,
                    "hashes": [b.hash for b in blocks],
                    "numbers": [b.number for b in blocks],
                    "parents": [b.parent_hash for b in blocks],
                    "times": [b.timestamp for b in blocks],
                },
            ).fetchall()
            # Blocks all new (none re-adopted, none already stored) and events in strict chain
            # order: nothing can conflict and every event is of incarnation 0, so they are
            # copied straight into `events`, in order. That is every backfill; the staging
            # path is for re-adopted blocks and the unexpected.
            fresh = len(incarnations) == len(blocks) and not any(i for (i,) in incarnations)
            inserted = 0
            if events and fresh and _in_chain_order(events):
                self._copy(_COPY_EVENTS, events, copy_text)
                inserted = len(events)
            elif events:
                # Room to sort a large batch by chain order in memory rather than on disk.
                conn.execute("SET LOCAL work_mem = '64MB'")
                self._copy(_COPY_STAGING, events, copy_text)
                inserted = conn.execute(_INSERT_EVENTS).rowcount
            conn.execute(
                "UPDATE blocks SET finalized = true WHERE chain_id = %s AND number <= %s"
                " AND NOT finalized AND orphaned_by IS NULL",
                (self.chain_id, finalized_upto),
            )
            payload = {"chain_id": self.chain_id, "kind": "append", "block": new.number}
            self._notify(payload | {"events": inserted})
        return AppendResult(inserted, len(events) - inserted, new)

    def record_reorg(self, expected: Checkpoint, ancestor: Checkpoint) -> ReorgRecord:
        """Orphan every stored block above ``ancestor``, remove their events, rewind."""
        conn = self.conn
        with _db_errors("recording a reorg"), conn.transaction():
            self._move_checkpoint(expected, ancestor)
            rows = conn.execute(
                "SELECT hash, finalized FROM blocks WHERE chain_id = %s AND number > %s"
                " AND orphaned_by IS NULL ORDER BY number",
                (self.chain_id, ancestor.number),
            ).fetchall()
            if any(final for _, final in rows):
                raise StorageError(f"refusing to orphan finalized blocks above {ancestor.number}")
            orphaned = [h for h, _ in rows]
            row = conn.execute(
                "INSERT INTO reorgs (chain_id, ancestor_number, ancestor_hash, depth,"
                " old_tip_number, orphaned_hashes) VALUES (%s, %s, %s, %s, %s, %s)"
                " RETURNING id, detected_at",
                (
                    self.chain_id,
                    ancestor.number,
                    ancestor.hash,
                    expected.number - ancestor.number,
                    expected.number,
                    orphaned,
                ),
            ).fetchone()
            assert row is not None
            reorg_id, detected_at = row
            conn.execute(
                "UPDATE blocks SET orphaned_by = %s WHERE chain_id = %s AND number > %s"
                " AND orphaned_by IS NULL",
                (reorg_id, self.chain_id, ancestor.number),
            )
            # The live events above the ancestor are exactly those of the blocks orphaned now.
            removed = conn.execute(
                "INSERT INTO event_removals (position, reorg_id)"
                " SELECT e.position, %s FROM events e"
                " WHERE e.chain_id = %s AND e.block_hash = ANY(%s) AND NOT EXISTS"
                " (SELECT 1 FROM event_removals r WHERE r.position = e.position)"
                " ORDER BY e.position",
                (reorg_id, self.chain_id, orphaned),
            ).rowcount
            self._notify(
                {
                    "chain_id": self.chain_id,
                    "kind": "reorg",
                    "reorg_id": reorg_id,
                    "ancestor": ancestor.number,
                    "removed": removed,
                }
            )
        return ReorgRecord(
            id=reorg_id,
            chain_id=self.chain_id,
            ancestor=ancestor,
            depth=expected.number - ancestor.number,
            old_tip_number=expected.number,
            orphaned_hashes=tuple(orphaned),
            removed_events=removed,
            detected_at=detected_at,
        )

    def _copy(self, statement: str, events: Sequence[EventRow], text: bytes | None) -> None:
        # One write of the whole batch: the driver sends it in large buffers and waits on the
        # socket without the GIL. (A queued writer thread, chunk by chunk, cost a GIL handoff
        # per chunk while the decode thread was busy: more than the overlap it bought.)
        data = event_copy_text(events) if text is None else text
        with self.conn.cursor() as cur, cur.copy(statement) as cp:
            cp.write(data)

    def _move_checkpoint(self, expected: Checkpoint, new: Checkpoint) -> None:
        cur = self.conn.execute(
            "UPDATE indexer_checkpoints SET block_number = %s, block_hash = %s, updated_at = now()"
            " WHERE chain_id = %s AND block_number = %s AND block_hash IS NOT DISTINCT FROM %s",
            (new.number, new.hash, self.chain_id, expected.number, expected.hash),
        )
        if cur.rowcount != 1:
            raise CheckpointMoved(
                f"chain {self.chain_id}: checkpoint is no longer block {expected.number}"
                f" ({expected.hash}); another writer has moved it"
            )

    def _notify(self, payload: dict[str, Any]) -> None:
        self.conn.execute(
            "SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, orjson.dumps(payload).decode())
        )
