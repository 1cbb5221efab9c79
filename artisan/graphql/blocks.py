"""Which block a query reads as of, and ``_meta``: time travel over the versioned read models.

The API's head is the highest block every projection has applied (all events up to it): a
query without ``block`` reads as of it, and ``_meta.block`` reports it. ``block: {number}``
reads as of an earlier block; ``{hash}`` as of a canonical block by its hash; ``{number_gte}``
at the head, once the head has reached it. Past the head, or at a hash the chain no longer
holds, a query is refused in graph-node's words.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from artisan.graphql.errors import QueryError
from artisan.graphql.session import Session
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
SELECT (SELECT count(*) FROM tracked) AS count, (SELECT min(block) FROM applied) AS min
"""


@dataclass(frozen=True, slots=True)
class MetaBlock:
    number: int
    hash: str | None
    timestamp: int | None
    parent_hash: str | None


async def head(session: Session) -> int | None:
    """The highest block every projection has applied; None before they all started. Read
    once per request (the snapshot does not move): the root fields of a request resolve at
    once, so the first one starts the read and every other awaits the same task."""
    task = session.loaders.get("head")
    if task is None:
        task = session.loaders["head"] = asyncio.ensure_future(_read_head(session))
    top: int | None = await asyncio.shield(task)
    return top


async def _read_head(session: Session) -> int | None:
    rows = await session.rows(_HEAD, {"chain": session.chain_id})
    tracked, block = rows[0]["count"], rows[0]["min"]
    return None if tracked < len(ALL) or block is None else int(block)


async def canonical(session: Session, number: int) -> MetaBlock:
    rows = await session.rows(
        "SELECT hash, timestamp, parent_hash FROM blocks WHERE chain_id = %s AND number = %s"
        " AND orphaned_by IS NULL",
        (session.chain_id, number),
    )
    if not rows:  # an empty block the indexer did not keep (or pruned): its number only
        return MetaBlock(number, None, None, None)
    row = rows[0]
    return MetaBlock(number, str(row["hash"]), int(row["timestamp"]), str(row["parent_hash"]))


async def as_of(session: Session, block: Any | None) -> int:
    """The block number a query reads as of (``block`` is a ``Block_height`` input or None)."""
    top = await head(session)
    if top is None:
        raise QueryError(f"subgraph {DEPLOYMENT} has not indexed any block yet")
    if block is None:
        return top
    number, digest, gte = block.number, block.hash, block.number_gte
    if digest is not None:
        rows = await session.rows(
            "SELECT number FROM blocks WHERE chain_id = %s AND hash = %s AND orphaned_by IS NULL",
            (session.chain_id, str(digest).lower()),
        )
        if not rows:
            raise QueryError("no block with that hash found")
        number = int(rows[0]["number"])
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
