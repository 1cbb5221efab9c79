"""Each projection's position in the event store, moved in the same transaction as its rows.

The position is the pair (last reorg id reverted, last event position applied), ordered
lexicographically: applying a batch moves the position up, reverting a reorg moves the reorg
id up (and the position back to the ancestor). The move is one guarded upsert, as in
eventsourcing's Postgres recorder: it succeeds only from the exact position this writer read
and only forwards, so a replayed, out-of-order or concurrent write finds no row to return
and the whole transaction, read-model rows included, rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from artisan.projections.errors import TrackingConflict


@dataclass(frozen=True, slots=True)
class Tracking:
    """Where one projection stands."""

    name: str
    chain_id: int
    last_position: int
    last_reorg_id: int


_READ = """
SELECT name, chain_id, last_position, last_reorg_id FROM projection_tracking WHERE name = %s
"""

_MOVE = """
INSERT INTO projection_tracking AS t (name, chain_id, last_position, last_reorg_id)
VALUES (%(name)s, %(chain)s, %(position)s, %(reorg)s)
ON CONFLICT (name) DO UPDATE
    SET last_position = EXCLUDED.last_position,
        last_reorg_id = EXCLUDED.last_reorg_id,
        updated_at = now()
    WHERE t.chain_id = EXCLUDED.chain_id
      AND t.last_position = %(old_position)s AND t.last_reorg_id = %(old_reorg)s
      AND (t.last_reorg_id, t.last_position) < (EXCLUDED.last_reorg_id, EXCLUDED.last_position)
RETURNING last_position
"""


def read(conn: psycopg.Connection[Any], name: str, chain_id: int) -> Tracking:
    """The projection's position; a projection never run starts before the first event."""
    row = conn.execute(_READ, (name,)).fetchone()
    if row is None:
        return Tracking(name, chain_id, 0, 0)
    return Tracking(*row)


def move(conn: psycopg.Connection[Any], old: Tracking, position: int, reorg_id: int) -> Tracking:
    """Move the position from ``old``; raises ``TrackingConflict`` if it is not there."""
    params = {
        "name": old.name,
        "chain": old.chain_id,
        "position": position,
        "reorg": reorg_id,
        "old_position": old.last_position,
        "old_reorg": old.last_reorg_id,
    }
    if conn.execute(_MOVE, params).fetchone() is None:
        raise TrackingConflict(
            f"projection {old.name}: expected position ({old.last_reorg_id},"
            f" {old.last_position}) to move to ({reorg_id}, {position}) on chain"
            f" {old.chain_id}; it was moved, replayed or belongs to another chain"
        )
    return Tracking(old.name, old.chain_id, position, reorg_id)


def reset(conn: psycopg.Connection[Any], name: str) -> None:
    """Send a projection back to the start (its rows must go in the same transaction).

    Updating rather than deleting keeps the guard working: a runner mid-batch that read the
    old position finds it gone and rolls back.
    """
    conn.execute(
        "UPDATE projection_tracking SET last_position = 0, last_reorg_id = 0, updated_at = now()"
        " WHERE name = %s",
        (name,),
    )
