"""Which block a query reads as of, and ``_meta``: time travel over the versioned read models.

The API's head is the highest block every projection has applied (all events up to it): a
query without ``block`` reads as of it, and ``_meta.block`` reports it. ``block: {number}``
reads as of an earlier block; ``{hash}`` as of a canonical block by its hash; ``{number_gte}``
at the head, once the head has reached it. Past the head, or at a hash the chain no longer
holds, a query is refused in graph-node's words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from artisan.graphql.errors import QueryError, database_errors
from artisan.projections.registry import ALL

DEPLOYMENT = "artisan"

_HEAD = """
WITH tracked AS (
    SELECT name, last_position FROM projection_tracking WHERE chain_id = %(chain)s
), applied AS (
    SELECT coalesce(
        (SELECT e.block_number - 1 FROM live_events e
         WHERE e.chain_id = %(chain)s AND e.position > t.last_position
         ORDER BY e.position LIMIT 1),
        (SELECT block_number FROM indexer_checkpoints WHERE chain_id = %(chain)s)) AS block
    FROM tracked t
)
SELECT (SELECT count(*) FROM tracked), (SELECT min(block) FROM applied)
"""


@dataclass(frozen=True, slots=True)
class MetaBlock:
    number: int
    hash: str | None
    timestamp: int | None
    parent_hash: str | None


async def head(conn: psycopg.AsyncConnection[Any], chain_id: int) -> int | None:
    """The highest block every projection has applied; None before they all started."""
    with database_errors():
        cur = await conn.execute(_HEAD, {"chain": chain_id})
        row = await cur.fetchone()
    if row is None or row[0] < len(ALL) or row[1] is None:
        return None
    return int(row[1])


async def canonical(conn: psycopg.AsyncConnection[Any], chain_id: int, number: int) -> MetaBlock:
    with database_errors():
        cur = await conn.execute(
            "SELECT hash, timestamp, parent_hash FROM blocks WHERE chain_id = %s AND number = %s"
            " AND orphaned_by IS NULL",
            (chain_id, number),
        )
        row = await cur.fetchone()
    if row is None:  # an empty block the indexer did not keep (or pruned): its number only
        return MetaBlock(number, None, None, None)
    return MetaBlock(number, str(row[0]), int(row[1]), str(row[2]))


async def as_of(conn: psycopg.AsyncConnection[Any], chain_id: int, block: Any | None) -> int:
    """The block number a query reads as of (``block`` is a ``Block_height`` input or None)."""
    top = await head(conn, chain_id)
    if top is None:
        raise QueryError(f"subgraph {DEPLOYMENT} has not indexed any block yet")
    if block is None:
        return top
    number, digest, gte = block.number, block.hash, block.number_gte
    if digest is not None:
        with database_errors():
            cur = await conn.execute(
                "SELECT number FROM blocks WHERE chain_id = %s AND hash = %s"
                " AND orphaned_by IS NULL",
                (chain_id, str(digest).lower()),
            )
            row = await cur.fetchone()
        if row is None:
            raise QueryError("no block with that hash found")
        number = int(row[0])
    if gte is not None:
        if top < gte:
            raise QueryError(_not_yet(top, gte))
        return top
    if number is None:
        return top
    if number > top:
        raise QueryError(_not_yet(top, number))
    return int(number)


def _not_yet(top: int, wanted: int) -> str:
    return (
        f"subgraph {DEPLOYMENT} has only indexed up to block number {top} and data for block"
        f" number {wanted} is therefore not yet available"
    )
