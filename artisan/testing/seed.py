"""Writing prepared blocks and reorgs into the event store, as the indexer would.

For projection tests and benchmarks: the blocks and rows go through the event store's own
write path (``EventStore.append`` and ``record_reorg``), so the store holds exactly what an
indexer following that chain would hold, removals and all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from artisan.storage.chain_records import BlockHeader, Checkpoint, EventRow, ReorgRecord
from artisan.storage.database import Database
from artisan.storage.event_store import EventStore


class SeedWriter:
    """Appends blocks to one chain's store and records reorgs, on its own connection."""

    def __init__(self, db: Database, chain_id: int, start_block: int = 1) -> None:
        self._conn: psycopg.Connection[Any] = db.connect(autocommit=True)
        self.store = EventStore(self._conn, chain_id)
        self.tip = self.store.checkpoint(start_block)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SeedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(
        self, blocks: Sequence[tuple[BlockHeader, Sequence[EventRow]]], finalized_upto: int = -1
    ) -> int:
        """Append consecutive blocks (and their rows) above the tip; events inserted."""
        if not blocks:
            return 0
        headers = [header for header, _ in blocks]
        rows = [row for _, block_rows in blocks for row in block_rows]
        new = Checkpoint(headers[-1].number, headers[-1].hash)
        result = self.store.append(self.tip, new, headers, rows, finalized_upto)
        self.tip = new
        return result.inserted

    def reorg(self, ancestor: int) -> ReorgRecord:
        """Orphan every stored block above block ``ancestor`` (which must be stored)."""
        below = self.store.canonical_blocks(ancestor + 1, 1)
        if not below or below[0][0].number != ancestor:
            raise ValueError(f"block {ancestor} is not a stored canonical block")
        record = self.store.record_reorg(self.tip, Checkpoint(ancestor, below[0][0].hash))
        self.tip = record.ancestor
        return record
