"""What the runner reads of the event store: the head position, reorgs, resume points.

Live events in position order are in chain order: the indexer appends each range above every
position before it, and a reorg removes only the top of the live chain. Hence, for reorgs a
projection has not reverted yet: every event it applied above their lowest ancestor was
removed by them, and every live event it has not applied lies above the lowest position they
removed (or above its own position). Resuming from just under that lowest removed position
(or from its own, if lower) re-applies exactly the live events above the ancestor. Every read
here follows an index of the event store (positions, reorg ids).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True)
class ReorgsSince:
    """The reorgs newer than a projection's: the newest id and the lowest ancestor block."""

    newest_id: int
    ancestor: int


def head_position(conn: psycopg.Connection[Any], chain_id: int) -> int:
    """The highest position stored for the chain, removed or not (0 when empty)."""
    row = conn.execute(
        "SELECT coalesce(max(position), 0) FROM events WHERE chain_id = %s", (chain_id,)
    ).fetchone()
    return int(row[0]) if row else 0


def block_end(conn: psycopg.Connection[Any], chain_id: int, position: int) -> int:
    """``position``, moved up to the last position of the block holding the chain's last event
    at or below it: the indexer writes each block whole in one transaction, so its events are
    consecutive among the chain's and a batch ending there never splits a block."""
    row = conn.execute(
        "SELECT max(e.position) FROM events e JOIN ("
        "   SELECT block_hash, incarnation FROM events"
        "   WHERE chain_id = %(chain)s AND position <= %(position)s"
        "   ORDER BY position DESC LIMIT 1"
        ") b ON e.block_hash = b.block_hash AND e.incarnation = b.incarnation"
        " WHERE e.chain_id = %(chain)s",
        {"chain": chain_id, "position": position},
    ).fetchone()
    return position if row is None or row[0] is None else max(position, int(row[0]))


def reorgs_since(conn: psycopg.Connection[Any], chain_id: int, reorg_id: int) -> ReorgsSince | None:
    """The reorgs with ids above ``reorg_id``, summarized; None if there is none."""
    row = conn.execute(
        "SELECT max(id), min(ancestor_number) FROM reorgs WHERE chain_id = %s AND id > %s",
        (chain_id, reorg_id),
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return ReorgsSince(int(row[0]), int(row[1]))


def newest_reorg(conn: psycopg.Connection[Any], chain_id: int) -> int:
    """The newest reorg id of the chain, 0 when it never reorganized."""
    row = conn.execute(
        "SELECT coalesce(max(id), 0) FROM reorgs WHERE chain_id = %s", (chain_id,)
    ).fetchone()
    return int(row[0]) if row else 0


def first_removed(conn: psycopg.Connection[Any], chain_id: int, reorg_id: int) -> int | None:
    """The lowest position removed by the chain's reorgs above ``reorg_id`` (None: none)."""
    row = conn.execute(
        "SELECT min(r.position) FROM event_removals r WHERE r.reorg_id IN"
        " (SELECT id FROM reorgs WHERE chain_id = %s AND id > %s)",
        (chain_id, reorg_id),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def next_live_block(conn: psycopg.Connection[Any], chain_id: int, position: int) -> int | None:
    """The block of the first live event above ``position`` (None: there is none yet)."""
    row = conn.execute(
        "SELECT block_number FROM live_events WHERE chain_id = %s AND position > %s"
        " ORDER BY position LIMIT 1",
        (chain_id, position),
    ).fetchone()
    return None if row is None else int(row[0])


def last_block_applied(conn: psycopg.Connection[Any], chain_id: int, position: int) -> int | None:
    """The block of the last live event at or below ``position`` (None before any)."""
    row = conn.execute(
        "SELECT block_number FROM live_events WHERE chain_id = %s AND position <= %s"
        " ORDER BY position DESC LIMIT 1",
        (chain_id, position),
    ).fetchone()
    return None if row is None else int(row[0])


def indexed_block(conn: psycopg.Connection[Any], chain_id: int) -> int | None:
    """The indexer's checkpoint block for the chain, None if it never ran."""
    row = conn.execute(
        "SELECT block_number FROM indexer_checkpoints WHERE chain_id = %s", (chain_id,)
    ).fetchone()
    return None if row is None else int(row[0])


def only_chain(conn: psycopg.Connection[Any]) -> int | None:
    """The chain id when the store holds exactly one chain's checkpoint, else None."""
    rows = conn.execute("SELECT chain_id FROM indexer_checkpoints").fetchall()
    return int(rows[0][0]) if len(rows) == 1 else None


@dataclass(frozen=True, slots=True)
class Lag:
    """How far one projection trails the event store: in positions (the events appended to
    the chain's store above it, removed ones included: a count of live events would walk them
    all, and this is read every few seconds) and in blocks (the indexer's checkpoint less the
    last block the projection applied whole)."""

    name: str
    position: int
    head_position: int
    events_behind: int
    blocks_behind: int | None  # None before the indexer wrote a checkpoint


# Each projection of %(names)s: its name, position, the store's head position, blocks behind.
LAGS = """
WITH head AS (
    SELECT coalesce(max(position), 0) AS position FROM events WHERE chain_id = %(chain)s
), checkpoint AS (
    SELECT block_number FROM indexer_checkpoints WHERE chain_id = %(chain)s
)
SELECT n.name, coalesce(t.last_position, 0), h.position,
       (SELECT block_number FROM checkpoint) - coalesce(
           (SELECT e.block_number - 1 FROM live_events e
            WHERE e.chain_id = %(chain)s AND e.position > coalesce(t.last_position, 0)
            ORDER BY e.position LIMIT 1),
           (SELECT block_number FROM checkpoint))
FROM unnest(%(names)s::text[]) WITH ORDINALITY AS n(name, i)
CROSS JOIN head h
LEFT JOIN projection_tracking t ON t.name = n.name AND t.chain_id = %(chain)s
ORDER BY n.i
"""


def lags(conn: psycopg.Connection[Any], chain_id: int, names: Sequence[str]) -> list[Lag]:
    """The lag of each projection in ``names`` (one never run stands at position 0): one
    statement, every read an index lookup."""
    rows = conn.execute(LAGS, {"chain": chain_id, "names": list(names)}).fetchall()
    return [
        Lag(str(name), int(position), int(head), max(0, int(head) - int(position)),
            None if blocks is None else max(0, int(blocks)))
        for name, position, head, blocks in rows
    ]  # fmt: skip
