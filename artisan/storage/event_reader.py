"""Reading the event store back: live events in position order, and the reorg record."""

from __future__ import annotations

from typing import Any

import psycopg

from artisan.storage.chain_records import Checkpoint, StoredEvent

_COLUMNS = (
    "position, chain_id, block_number, block_hash, block_timestamp, tx_hash, tx_index,"
    " log_index, address, event_name, args, topics, data"
)


def live_events(
    conn: psycopg.Connection[Any], chain_id: int, after: int = 0, limit: int | None = None
) -> list[StoredEvent]:
    """Events of the canonical chain with position above ``after``, in position order."""
    query = (
        f"SELECT {_COLUMNS} FROM live_events WHERE chain_id = %s AND position > %s"
        " ORDER BY position LIMIT %s"
    )
    rows = conn.execute(query, (chain_id, after, limit)).fetchall()
    return [StoredEvent(*row) for row in rows]


def stored_checkpoint(conn: psycopg.Connection[Any], chain_id: int) -> Checkpoint | None:
    """The chain's indexer checkpoint, or None if it was never indexed."""
    row = conn.execute(
        "SELECT block_number, block_hash FROM indexer_checkpoints WHERE chain_id = %s",
        (chain_id,),
    ).fetchone()
    return None if row is None else Checkpoint(row[0], row[1])


def checkpoints(conn: psycopg.Connection[Any]) -> list[tuple[int, int, float]]:
    """Every chain's indexer checkpoint: chain id, block, and seconds since it last moved (by
    the database's clock)."""
    rows = conn.execute(
        "SELECT chain_id, block_number, extract(epoch FROM now() - updated_at)::float8"
        " FROM indexer_checkpoints ORDER BY chain_id"
    ).fetchall()
    return [(int(chain), int(block), float(age)) for chain, block, age in rows]
