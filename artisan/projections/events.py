"""The events projections read: the stored envelope of a decoded log, and batch loading.

A projection never sees a store position in its rows (positions differ between a store that
followed reorgs and one that did not); it places events by (block number, log index).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import orjson
import psycopg

from artisan.storage.chain_records import EventRow

A = TypeVar("A")


@dataclass(frozen=True, slots=True)
class Event:
    """One decoded contract event on the canonical chain, in chain order by ``position``."""

    position: int
    block_number: int
    block_hash: str
    block_timestamp: int
    tx_hash: str
    log_index: int
    name: str
    args: Mapping[str, Any]


def from_rows(rows: Iterable[EventRow]) -> list[Event]:
    """Envelopes of decoded rows read straight from a chain (``verify``), numbered in order."""
    out: list[Event] = []
    for row in rows:
        if row.event_name is None or row.args_json is None:
            continue
        out.append(
            Event(
                len(out) + 1,
                row.block_number,
                row.block_hash,
                row.block_timestamp,
                row.tx_hash,
                row.log_index,
                row.event_name,
                orjson.loads(row.args_json),
            )
        )
    return out


# args as text, parsed with orjson: several times faster than the driver's json.loads.
_LOAD = """
SELECT position, block_number, block_hash, block_timestamp, tx_hash, log_index, event_name,
    args::text
FROM live_events
WHERE chain_id = %s AND event_name = ANY(%s) AND position > %s AND position <= %s
ORDER BY position
"""


def load_batch(
    conn: psycopg.Connection[Any], chain_id: int, names: Sequence[str], after: int, upto: int
) -> list[Event]:
    """Live events named ``names`` with positions in ``(after, upto]``, in position order."""
    rows = conn.execute(_LOAD, (chain_id, list(names), after, upto)).fetchall()
    return [Event(r[0], r[1], r[2], r[3], r[4], r[5], r[6], orjson.loads(r[7])) for r in rows]


def uint(args: Mapping[str, Any], key: str) -> int:
    """An integer argument (the store keeps them as decimal strings)."""
    return int(args[key])


def args_as(event: Event, kind: type[A]) -> A:
    """``event``'s arguments as the TypedDict of its event (``artisan.domain.events``), so
    that mypy checks every field read; an event of another name is a programming error."""
    if event.name != kind.__name__:
        raise TypeError(f"a {event.name} event read as {kind.__name__}")
    return cast(A, event.args)
